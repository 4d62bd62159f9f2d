"""What the step engine needs from a call: the caller's ears, keypad and hook, and the
controller's record of the call. ``ivr.scenario.live`` places real calls; tests use fakes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ivr.scenario.hearing import Samples


@dataclass(frozen=True)
class TimelineEvent:
    """One entry of the controller's timeline of the call (table ``call_events``).

    Kinds the engine reads: ``prompt`` {"ids": [...], "language": "zh"} for every play,
    ``queued`` {"queue": ...}, ``transfer`` {"to": ..., "answered": bool}.
    """

    at: datetime  # timezone-aware
    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)


class CallNotAnswered(Exception):
    """The hotline never answered the scenario's call."""

    def __init__(self, cause: int) -> None:
        super().__init__(f"the hotline did not answer (cause {cause})")
        self.cause = cause


class CallEnded(Exception):
    """The call is gone, so the caller can no longer act on it (e.g. press keys)."""


class ScenarioCall(Protocol):
    async def heard(self) -> Samples:
        """Everything the caller has heard so far (8 kHz samples, from the call's start)."""
        ...

    async def press(self, keys: str) -> None:
        """Send DTMF keys in order; raise ``CallEnded`` if the call is gone."""
        ...

    async def hung_up(self) -> bool:
        """Has the hotline hung up?"""
        ...

    async def timeline(self) -> Sequence[TimelineEvent]:
        """The controller's timeline of this call, oldest first (empty if it has none)."""
        ...

    async def hangup(self) -> None:
        """Hang up as the caller. Harmless if the call has already ended."""
        ...
