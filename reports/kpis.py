"""Call-centre KPIs (R-8) computed from the append-only call event log.

The unit is the *queue visit*: one stay of a call in the ACD, from its ``waiting`` event to
the event that ends the wait. An ``overflow`` moves the visit to another queue and keeps its
start; a transfer to a queue or an agent starts a new visit (a new ``waiting``), so one call
can make several visits.

Per visit:
  queue    the queue the visit ended in (after overflows)
  start    the time of its ``waiting`` event
  region   the caller's region from that event ("" is reported as "unknown")
  outcome  answered, abandoned (the caller hung up while waiting), callback (pressed the
           callback key, or chose a callback at the longest wait), message (left a message
           at the longest wait), or other (still waiting, or the wait was interrupted)

Definitions (every sum and count over the visits in the row's group):
  offered          visits
  answered, abandoned, callbacks, messages
                   visits with that outcome
  abandon_rate     abandoned / (offered - callbacks); callbacks are left out of the
                   denominator as Amazon Connect does (the caller was not lost); None when
                   the denominator is 0
  service_level    visits answered within the threshold (wait <= threshold, default 20 s)
                   / (offered - callbacks); None when the denominator is 0
  asa              average speed of answer: mean wait of answered visits, in seconds; None
                   when nothing was answered
  talk             seconds from the answer to the end of the conversation (either side
                   hanging up, a transfer, a hand-over to a line sequence, or the call's
                   end), less the hold time, summed over answered visits
  hold             seconds between the agent's hold and resume; a hold never resumed ends
                   with the conversation
  wrap             seconds of the answering agent's after-call work (``wrap-up`` events)
  aht              average handle time: (talk + hold + wrap) / answered; None when nothing
                   was answered
  transfers        answered visits whose conversation ended with a transfer-* action
  transfer_rate    transfers / answered; None when nothing was answered
  surveys          count per survey result: "1" satisfied, "2" neutral, "3" dissatisfied,
                   "invalid", "no-key", "hung-up", "off" (the agent switched it off)
  rated            surveys answered "1", "2" or "3"
  satisfaction     surveys answered "1" / rated; None when nothing was rated
  calls            calls received (also those that never reached a queue); hotline number
                   and "all" rows only, None in the others
  callbacks_requested
                   callback requests filed, from the menu as well as from a queue; hotline
                   number and "all" rows only, None in the others

Groups (``by``):
  number   the hotline number dialled
  queue    the queue the visit ended in
  agent    the answering agent; only answered visits count, so offered = answered there
  region   the caller's region at the visit, "unknown" when the ACD did not know it
  hour     "YYYY-MM-DD HH", day "YYYY-MM-DD", month "YYYY-MM": the visit's start in the
           report's time zone (default Asia/Shanghai)
  all      a single row, "all"

A survey and a wrap-up belong to the latest visit of the same call that their agent
answered, so they count in that visit's groups; one whose agent answered no visit of the
call is left out. A ``waiting`` while the visit is still waiting is the same wait resumed
by a restarted controller, not a new visit. An answer, abandon, callback or longest wait
with no ``waiting`` before it (older logs) makes a visit that started ``wait`` seconds
before it, region unknown. A conversation the log does not see end (a call still going)
ends at the call's last event. Times without a time zone are taken as UTC.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DIMENSIONS = ("number", "queue", "agent", "region", "hour", "day", "month", "all")
# Dimensions whose rows are calls as well as visits: only they carry calls and
# callbacks_requested (a menu callback belongs to no queue, agent or region).
CALL_DIMENSIONS = ("number", "all")
RATED = ("1", "2", "3")
SATISFIED = "1"
TRANSFERS = frozenset({"transfer-queue", "transfer-agent", "transfer-outside"})
# Actions after which the agent is no longer talking to the caller.
CONVERSATION_ENDS = TRANSFERS | {"sequence", "hangup"}
UNKNOWN_REGION = "unknown"
# The events that end a wait, with the visit's outcome; after max-wait the next callback
# or message event decides it.
WAIT_ENDS = {
    "answered": "answered",
    "abandoned": "abandoned",
    "queue-callback": "callback",
    "max-wait": "other",
}


@dataclass(frozen=True)
class LoggedEvent:
    """One row of ``call_events``."""

    at: datetime
    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class CallFacts:
    """One row of ``calls`` with its events in log order."""

    call_id: str
    dialled: str
    caller: str
    started_at: datetime
    events: Sequence[LoggedEvent]


@dataclass(frozen=True)
class Visit:
    """One stay of a call in the ACD, as the KPIs see it."""

    call_id: str
    dialled: str
    queue: str
    region: str
    start: datetime
    outcome: str  # answered, abandoned, callback, message, other
    wait: float | None  # seconds waited; None when the wait did not end (other)
    agent: str = ""  # the answering agent
    talk: float = 0.0
    hold: float = 0.0
    wrap: float = 0.0
    transferred: bool = False
    surveys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kpis:
    """One row of a report; full-precision floats (round with ``as_dict``)."""

    threshold: float
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    callbacks: int = 0
    messages: int = 0
    other: int = 0
    answered_within: int = 0
    abandon_rate: float | None = None
    service_level: float | None = None
    asa: float | None = None
    talk: float = 0.0
    hold: float = 0.0
    wrap: float = 0.0
    aht: float | None = None
    transfers: int = 0
    transfer_rate: float | None = None
    surveys: Mapping[str, int] = field(default_factory=dict)
    rated: int = 0
    satisfaction: float | None = None
    calls: int | None = None
    callbacks_requested: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly: rates to 4 places, seconds to 0.1 s."""
        return {
            "threshold": self.threshold,
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "callbacks": self.callbacks,
            "messages": self.messages,
            "other": self.other,
            "answered_within": self.answered_within,
            "abandon_rate": _round(self.abandon_rate, 4),
            "service_level": _round(self.service_level, 4),
            "asa": _round(self.asa, 1),
            "talk": round(self.talk, 1),
            "hold": round(self.hold, 1),
            "wrap": round(self.wrap, 1),
            "aht": _round(self.aht, 1),
            "transfers": self.transfers,
            "transfer_rate": _round(self.transfer_rate, 4),
            "surveys": dict(sorted(self.surveys.items())),
            "rated": self.rated,
            "satisfaction": _round(self.satisfaction, 4),
            "calls": self.calls,
            "callbacks_requested": self.callbacks_requested,
        }


def visits(calls: Iterable[CallFacts]) -> list[Visit]:
    """Every queue visit of the calls, call by call, in log order."""
    return [visit for call in calls for visit in _walk(call).visits]


def kpis(
    calls: Iterable[CallFacts], by: str, threshold: float = 20, tz: str = "Asia/Shanghai"
) -> dict[str, Kpis]:
    """The KPIs grouped ``by`` one of DIMENSIONS, rows sorted by key. "all" always has
    its row; the other groups have rows only for keys that occur."""
    key_of = _key_function(by, _zone(tz))
    tallies: dict[str, _Tally] = {}
    if by == "all":
        tallies["all"] = _Tally()
    for call in calls:
        walked = _walk(call)
        if by in CALL_DIMENSIONS:
            tally = tallies.setdefault("all" if by == "all" else call.dialled, _Tally())
            tally.calls += 1
            tally.callbacks_requested += walked.callbacks_requested
        for visit in walked.visits:
            if by == "agent" and visit.outcome != "answered":
                continue
            tallies.setdefault(key_of(visit), _Tally()).add(visit, threshold)
    call_level = by in CALL_DIMENSIONS
    return {key: tallies[key].freeze(threshold, call_level) for key in sorted(tallies)}


# --- walking one call's events -------------------------------------------------------------


@dataclass
class _Building:
    """A visit while its call's events are read."""

    queue: str
    region: str
    start: datetime
    outcome: str = "other"
    wait: float | None = None
    agent: str = ""
    talk: float = 0.0
    hold: float = 0.0
    wrap: float = 0.0
    transferred: bool = False
    surveys: list[str] = field(default_factory=list)
    # The conversation, while it goes on.
    answered_at: datetime | None = None
    held_since: datetime | None = None

    def end_conversation(self, at: datetime, transferred: bool = False) -> None:
        if self.answered_at is None:
            return
        if self.held_since is not None:
            self.hold += _seconds(self.held_since, at)
            self.held_since = None
        self.talk += max(0.0, _seconds(self.answered_at, at) - self.hold)
        self.transferred = transferred
        self.answered_at = None

    def freeze(self, call: CallFacts) -> Visit:
        return Visit(
            call_id=call.call_id,
            dialled=call.dialled,
            queue=self.queue,
            region=self.region or UNKNOWN_REGION,
            start=self.start,
            outcome=self.outcome,
            wait=self.wait,
            agent=self.agent,
            talk=self.talk,
            hold=self.hold,
            wrap=self.wrap,
            transferred=self.transferred,
            surveys=tuple(self.surveys),
        )


@dataclass(frozen=True)
class _Walked:
    visits: list[Visit]
    callbacks_requested: int


def _walk(call: CallFacts) -> _Walked:
    """One pass over a call's events: its visits and its callback requests."""
    built: list[_Building] = []
    waiting: _Building | None = None  # the visit whose wait has not ended
    at_max_wait: _Building | None = None  # its wait ended at the longest wait; what next?
    talking: _Building | None = None  # the visit whose conversation goes on
    by_agent: dict[str, _Building] = {}  # each agent's latest answered visit
    latest_answered: _Building | None = None
    callbacks = 0
    last_at = _aware(call.started_at)

    for event in call.events:
        at = last_at = _aware(event.at)
        kind, data = event.kind, event.data
        if kind == "waiting":
            if talking is not None:  # a transfer we did not see: the conversation is over
                talking.end_conversation(at)
                talking = None
            if waiting is not None:
                # The wait never ended, so this is the same wait resumed by a restarted
                # controller: one visit, from its first start.
                waiting.queue = str(data.get("queue", "")) or waiting.queue
                waiting.region = str(data.get("region", "")) or waiting.region
            else:
                waiting = _Building(
                    queue=str(data.get("queue", "")), region=str(data.get("region", "")), start=at
                )
                built.append(waiting)
            at_max_wait = None
        elif kind == "overflow":
            if waiting is not None:
                waiting.queue = str(data.get("to", "")) or waiting.queue
        elif kind in WAIT_ENDS:
            if waiting is None:
                # No wait logged (a log from before visits were): the visit is rebuilt
                # from the event that ended it.
                waiting = _rebuilt(data, at)
                built.append(waiting)
            visit = _end_wait(waiting, WAIT_ENDS[kind], data, at)
            waiting = None
            at_max_wait = visit if kind == "max-wait" else None
            if kind == "answered":
                if talking is not None:  # a hand-over we did not see
                    talking.end_conversation(at)
                visit.agent = str(data.get("agent", ""))
                visit.answered_at = at
                talking, latest_answered = visit, visit
                by_agent[visit.agent] = visit
        elif kind == "callback":
            callbacks += 1
            if at_max_wait is not None:
                at_max_wait.outcome, at_max_wait = "callback", None
        elif kind == "message":
            if at_max_wait is not None:
                at_max_wait.outcome, at_max_wait = "message", None
        elif kind == "action":
            if talking is not None:
                talking = _act(talking, str(data.get("action", "")), at)
        elif kind in ("agent-hung-up", "caller-hung-up", "ended"):
            if talking is not None:
                talking.end_conversation(at)
                talking = None
            if kind == "ended":
                waiting = None  # a wait the log never saw end stays "other"
        elif kind in ("survey", "wrap-up"):
            agent = str(data.get("agent", ""))
            owner = by_agent.get(agent) if agent else latest_answered
            if owner is None:
                continue  # nobody's conversation in this call: nothing to attribute it to
            if kind == "survey":
                owner.surveys.append(str(data.get("result", "")))
            else:
                owner.wrap += _float(data.get("seconds")) or 0.0
        # Other kinds (started, offer, offer-failed, announcement, ...) do not count.

    if talking is not None:
        talking.end_conversation(last_at)
    return _Walked([visit.freeze(call) for visit in built], callbacks)


def _rebuilt(data: Mapping[str, Any], at: datetime) -> _Building:
    wait = _float(data.get("wait"))
    start = at if wait is None else at - timedelta(seconds=wait)
    return _Building(queue=str(data.get("queue", "")), region="", start=start)


def _end_wait(visit: _Building, outcome: str, data: Mapping[str, Any], at: datetime) -> _Building:
    """The wait ends: the event's own queue and wait are the authoritative ones."""
    visit.outcome = outcome
    visit.queue = str(data.get("queue", "")) or visit.queue
    wait = _float(data.get("wait"))
    visit.wait = wait if wait is not None else max(0.0, _seconds(visit.start, at))
    return visit


def _act(visit: _Building, action: str, at: datetime) -> _Building | None:
    """An action during the conversation; None once it has ended the conversation."""
    if action == "hold" and visit.held_since is None:
        visit.held_since = at
    elif action == "resume" and visit.held_since is not None:
        visit.hold += _seconds(visit.held_since, at)
        visit.held_since = None
    elif action in CONVERSATION_ENDS:
        visit.end_conversation(at, transferred=action in TRANSFERS)
        return None
    return visit


# --- grouping ------------------------------------------------------------------------------


@dataclass
class _Tally:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    callbacks: int = 0
    messages: int = 0
    other: int = 0
    answered_within: int = 0
    wait: float = 0.0
    talk: float = 0.0
    hold: float = 0.0
    wrap: float = 0.0
    transfers: int = 0
    surveys: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    callbacks_requested: int = 0

    def add(self, visit: Visit, threshold: float) -> None:
        self.offered += 1
        if visit.outcome == "answered":
            wait = visit.wait or 0.0
            self.answered += 1
            self.answered_within += wait <= threshold
            self.wait += wait
            self.talk += visit.talk
            self.hold += visit.hold
            self.wrap += visit.wrap
            self.transfers += visit.transferred
        elif visit.outcome == "abandoned":
            self.abandoned += 1
        elif visit.outcome == "callback":
            self.callbacks += 1
        elif visit.outcome == "message":
            self.messages += 1
        else:
            self.other += 1
        for result in visit.surveys:
            self.surveys[result] = self.surveys.get(result, 0) + 1

    def freeze(self, threshold: float, call_level: bool) -> Kpis:
        reachable = self.offered - self.callbacks
        rated = sum(self.surveys.get(result, 0) for result in RATED)
        return Kpis(
            threshold=threshold,
            offered=self.offered,
            answered=self.answered,
            abandoned=self.abandoned,
            callbacks=self.callbacks,
            messages=self.messages,
            other=self.other,
            answered_within=self.answered_within,
            abandon_rate=_ratio(self.abandoned, reachable),
            service_level=_ratio(self.answered_within, reachable),
            asa=_ratio(self.wait, self.answered),
            talk=self.talk,
            hold=self.hold,
            wrap=self.wrap,
            aht=_ratio(self.talk + self.hold + self.wrap, self.answered),
            transfers=self.transfers,
            transfer_rate=_ratio(self.transfers, self.answered),
            surveys=dict(self.surveys),
            rated=rated,
            satisfaction=_ratio(self.surveys.get(SATISFIED, 0), rated),
            calls=self.calls if call_level else None,
            callbacks_requested=self.callbacks_requested if call_level else None,
        )


def _key_function(by: str, zone: ZoneInfo) -> Callable[[Visit], str]:
    keys: dict[str, Callable[[Visit], str]] = {
        "number": lambda v: v.dialled,
        "queue": lambda v: v.queue,
        "agent": lambda v: v.agent,
        "region": lambda v: v.region,
        "hour": lambda v: v.start.astimezone(zone).strftime("%Y-%m-%d %H"),
        "day": lambda v: v.start.astimezone(zone).strftime("%Y-%m-%d"),
        "month": lambda v: v.start.astimezone(zone).strftime("%Y-%m"),
        "all": lambda v: "all",
    }
    if by not in keys:
        raise ValueError(f"unknown report grouping {by!r}: choose one of {', '.join(DIMENSIONS)}")
    return keys[by]


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r} (an IANA name like 'Asia/Shanghai')") from exc


# --- small pure helpers --------------------------------------------------------------------


def _aware(at: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; they are UTC.
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)
