"""A call's journey: a sequence of named, typed, storable phases.

Each phase is a small frozen dataclass with a stable ``name``, its own data (its fields,
JSON-serialisable) and ``run(call)``, which returns the next phase or ``End`` with the
call's disposition. ``run_journey`` is the one loop: it stores the phase's name (the call
record's ``state``) and data (``phase``) on every transition, so a restarted controller
rebuilds the stored phase from the ``PhaseTable`` and runs it again with ``call.resuming``
set (the phase then picks up what is still there: a leg, a bridge, a queue join time).

A hand-over between features is "return the other feature's phase", made by name from
the table the composition root fills (``call.hand_over("queued", queue=...)``): no feature
imports another's phase classes. The core knows no phase.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

from hotline.calls.context import CallContext
from hotline.calls.legs import LegPlan, enter_bridge
from hotline.calls.models import CallRecord
from hotline.calls.session import CallChannel
from hotline.calls.store import CallStore
from hotline.calls.timeline import Kind
from hotline.errors import HotlineError

log = logging.getLogger(__name__)


class Phase(Protocol):
    """One stretch of a call. Implementations are frozen dataclasses whose fields are
    their stored data; services come from the factory that builds them."""

    name: ClassVar[str]
    # Whether the caller is in the call's bridge during this phase (every phase after
    # the answer): a resumed call is put back in it first.
    bridged: ClassVar[bool]

    def data(self) -> dict[str, Any]:
        """What is stored for this phase (its fields), enough to rebuild it."""

    async def run(self, call: Call) -> Phase | End: ...


def stored_fields(phase: Any) -> list[str]:
    """A dataclass phase's (or phase class's) fields but the services it is built with
    (fields whose metadata says ``stored=False``)."""
    return [f.name for f in dataclasses.fields(phase) if f.metadata.get("stored", True)]


def phase_data(phase: Any) -> dict[str, Any]:
    return {name: getattr(phase, name) for name in stored_fields(phase)}


def service() -> Any:
    """A dataclass field holding a service: given by the factory, never stored."""
    return field(metadata={"stored": False}, repr=False, compare=False)


class StoredPhase:
    """A base for dataclass phases: their fields are their data."""

    name: ClassVar[str]
    bridged: ClassVar[bool] = True

    def data(self) -> dict[str, Any]:
        return phase_data(self)


P = TypeVar("P")


def build(cls: type[P], data: Mapping[str, Any], **services: Any) -> P:
    """A dataclass phase from its stored data and its services; stored keys it does not
    know (from another version) are dropped."""
    stored = set(stored_fields(cls))
    unknown = set(data) - stored
    if unknown:
        log.warning("%s: ignoring stored %s", cls.__name__, ", ".join(sorted(unknown)))
    return cls(**{k: v for k, v in data.items() if k in stored}, **services)


@dataclass(frozen=True)
class End:
    disposition: str


class UnknownPhase(HotlineError):
    error_id = "unknown-phase"


PhaseFactory = Callable[[Mapping[str, Any]], Phase]


class PhaseTable:
    """Phase names to the factories that build them from stored data; filled by each
    feature's ``install``."""

    def __init__(self) -> None:
        self._factories: dict[str, PhaseFactory] = {}

    def add(self, name: str, factory: PhaseFactory) -> None:
        if name in self._factories:
            raise ValueError(f"two phases named {name!r}")
        self._factories[name] = factory

    def make(self, name: str, data: Mapping[str, Any]) -> Phase:
        factory = self._factories.get(name)
        if factory is None:
            raise UnknownPhase(f"no phase named {name!r}", phase=name, known=sorted(self))
        phase = factory(data)
        if phase.name != name:
            raise ValueError(f"the factory for {name!r} built a {phase.name!r}")
        return phase

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories


@dataclass
class Call:
    """What every phase of one call shares: who is calling, the caller's channel, the
    context the menu builds (language, priority, variables, keys), the store."""

    call_id: str
    channel: CallChannel
    context: CallContext
    store: CallStore
    phases: PhaseTable
    legs: LegPlan
    # True while the first phase after a controller restart runs: it finds its legs,
    # bridge and queue place as the last controller left them (or gone).
    resuming: bool = False

    def hand_over(self, name: str, **data: Any) -> Phase:
        """Another feature's phase, by name."""
        return self.phases.make(name, data)

    async def log(self, kind: Kind, **data: Any) -> None:
        await self.store.log(self.call_id, kind, **data)

    async def save(self, phase: Phase, **fields: Any) -> None:
        """Store ``phase`` as where the call stands, with the context (and ``fields``:
        other columns of the call record, e.g. the menu node)."""
        ctx = self.context
        await self.store.update(
            self.call_id,
            state=phase.name,
            phase=phase.data(),
            keys=ctx.keys[-256:],
            language=ctx.language,
            priority=ctx.priority,
            variables=dict(ctx.variables),
            menu_stack=list(ctx.menu_stack),
            menu_version=ctx.menu_version,
            **fields,
        )


async def run_journey(call: Call, first: Phase) -> str:
    """Run phases until one ends the call; returns its disposition. ``first`` is stored
    before it runs, unless it is the stored phase being resumed."""
    phase = first
    if not call.resuming:
        await call.save(phase)
    elif phase.bridged:
        await enter_bridge(call.call_id, call.channel, call.legs)
    while True:
        outcome = await phase.run(call)
        call.resuming = False
        if isinstance(outcome, End):
            return outcome.disposition
        log.debug("call %s: %s -> %s", call.call_id, phase.name, outcome.name)
        phase = outcome
        await call.save(phase)


async def start_or_resume(
    phases: PhaseTable,
    store: CallStore,
    plan: LegPlan,
    entry: str,
    call_id: str,
    channel: CallChannel,
    dialled: str,
    resume: CallRecord | None,
) -> str:
    """A new call starts at the ``entry`` phase; a call a restarted controller found goes
    on from its stored phase (from the entry again if it never got one)."""
    if resume is None or resume.state not in phases:
        context = CallContext(dialled, channel.caller_number, "zh", 5)
        call = Call(call_id, channel, context, store, phases, plan)
        return await run_journey(call, phases.make(entry, {}))
    context = CallContext(
        dialled=resume.dialled_number,
        caller=resume.caller_number,
        language=resume.language,
        priority=resume.priority,
        variables={k: str(v) for k, v in (resume.variables or {}).items()},
        keys=resume.keys,
        menu_stack=list(resume.menu_stack or []),
        menu_version=resume.menu_version,
    )
    call = Call(call_id, channel, context, store, phases, plan, resuming=True)
    return await run_journey(call, phases.make(resume.state, resume.phase or {}))
