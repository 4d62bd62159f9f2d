"""The scripted sequences the service standards prescribe for a caller who cannot be heard
(R-3.1 to R-3.4), instead of simply hanging up on them.

A sequence is a list of steps, each a prompt and then a wait. A key, or speech the
classifier calls usable, at any moment (during a prompt or a wait) ends the sequence:
the caller goes back to where they were. After the last step the call is hung up and its
disposition is the sequence's class. The runner speaks through ``SequenceIO``, so the
same code serves a caller in the menu, a caller an agent hands over (bridged or not) and
unit tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ivr.line.classifier import Evidence, LineClass
from ivr.model import LineCheck, LineStep


@dataclass(frozen=True)
class Presence:
    """The caller showed up: a key, or speech (with the evidence that it was speech)."""

    key: str | None = None
    evidence: Evidence | None = None

    def describe(self) -> dict[str, Any]:
        if self.key is not None:
            return {"by": "key", "key": self.key}
        return {"by": "speech", **(self.evidence.as_dict() if self.evidence else {})}


@dataclass(frozen=True)
class SequenceOutcome:
    kind: LineClass
    hung_up: bool  # True: the sequence ran to its end and the call is over
    key: str | None = None  # the key that brought the caller back, if a key did


class SequenceIO(Protocol):
    async def say(self, prompt: str) -> Presence | None:
        """Play one prompt; stop early (returning it) if the caller shows up."""

    async def listen(self, seconds: float) -> Presence | None:
        """Wait ``seconds`` for the caller to show up."""

    def evidence(self, seconds: float) -> Evidence:
        """The classifier's verdict on the last ``seconds`` of the caller's audio."""

    async def hangup(self) -> None: ...

    async def log(self, **data: Any) -> None:
        """Write a ``line`` event to the call's timeline."""


async def run_sequence(
    kind: LineClass, steps: Sequence[LineStep], io: SequenceIO
) -> SequenceOutcome:
    """Run ``kind``'s steps; hang up after the last one unless the caller shows up."""
    for number, step in enumerate(steps, 1):
        await io.log(event="step", sequence=kind.value, step=number, prompt=step.prompt)
        presence = await io.say(step.prompt)
        if presence is None and step.wait > 0:
            presence = await io.listen(step.wait)
        if presence is not None:
            await io.log(event="resumed", sequence=kind.value, step=number, **presence.describe())
            return SequenceOutcome(kind, hung_up=False, key=presence.key)
    last_wait = steps[-1].wait if steps else 0.0
    evidence = io.evidence(last_wait) if last_wait > 0 else None
    await io.log(
        event="hangup",
        sequence=kind.value,
        disposition=kind.value,
        **({"last": evidence.as_dict()} if evidence else {}),
    )
    await io.hangup()
    return SequenceOutcome(kind, hung_up=True)


async def check_line(check: LineCheck, waited: float, io: SequenceIO) -> SequenceOutcome | None:
    """A key wait of ``waited`` seconds ended with no key: judge the audio of that wait and
    run the matching sequence. None: the caller was there (speaking), carry on as usual."""
    evidence = io.evidence(waited)
    await io.log(event="judged", **evidence.as_dict())
    steps = check.sequences.get(evidence.verdict)
    if evidence.verdict.caller_present or not steps:
        return None
    return await run_sequence(evidence.verdict, steps, io)
