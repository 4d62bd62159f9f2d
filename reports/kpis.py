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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hotline.calls.timeline import Kind
from reports.grouping import DIMENSIONS as DIMENSIONS
from reports.grouping import Kpis as Kpis
from reports.grouping import Tally, Visit, key_function, zone

# Dimensions whose rows are calls as well as visits: only they carry calls and
# callbacks_requested (a menu callback belongs to no queue, agent or region).
CALL_DIMENSIONS = ("number", "all")
TRANSFERS = frozenset({"transfer-queue", "transfer-agent", "transfer-outside"})
# Actions after which the agent is no longer talking to the caller.
CONVERSATION_ENDS = TRANSFERS | {"sequence", "hangup"}
UNKNOWN_REGION = "unknown"
# The events that end a wait, with the visit's outcome; after max-wait the next callback
# or message event decides it.
WAIT_ENDS: dict[Kind, str] = {
    Kind.ANSWERED: "answered",
    Kind.ABANDONED: "abandoned",
    Kind.QUEUE_CALLBACK: "callback",
    Kind.MAX_WAIT: "other",
}


# Every kind the walk below reads; the others only move the call's last event on.
COUNTED = frozenset(
    {Kind.WAITING, Kind.OVERFLOW, *WAIT_ENDS, Kind.CALLBACK, Kind.MESSAGE, Kind.ACTION}
    | {Kind.AGENT_HUNG_UP, Kind.CALLER_HUNG_UP, Kind.ENDED, Kind.SURVEY, Kind.WRAP_UP}
)


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
    # When ``events`` leaves out kinds the KPIs do not read (``COUNTED``): the time of the
    # call's last event of any kind, where a conversation still going is taken to end.
    last_event_at: datetime | None = None


def visits(calls: Iterable[CallFacts]) -> list[Visit]:
    """Every queue visit of the calls, call by call, in log order."""
    return [visit for call in calls for visit in _walk(call).visits]


def kpis(
    calls: Iterable[CallFacts], by: str, threshold: float = 20, tz: str = "Asia/Shanghai"
) -> dict[str, Kpis]:
    """The KPIs grouped ``by`` one of DIMENSIONS, rows sorted by key. "all" always has
    its row; the other groups have rows only for keys that occur."""
    key_of = key_function(by, zone(tz))
    tallies: dict[str, Tally] = {}
    if by == "all":
        tallies["all"] = Tally()
    for call in calls:
        walked = _walk(call)
        if by in CALL_DIMENSIONS:
            tally = tallies.setdefault("all" if by == "all" else call.dialled, Tally())
            tally.calls += 1
            tally.callbacks_requested += walked.callbacks_requested
        for visit in walked.visits:
            if by == "agent" and visit.outcome != "answered":
                continue
            tallies.setdefault(key_of(visit), Tally()).add(visit, threshold)
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
        if kind == Kind.WAITING:
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
        elif kind == Kind.OVERFLOW:
            if waiting is not None:
                waiting.queue = str(data.get("to", "")) or waiting.queue
        elif kind in WAIT_ENDS:
            if waiting is None:
                # No wait logged (a log from before visits were): the visit is rebuilt
                # from the event that ended it.
                waiting = _rebuilt(data, at)
                built.append(waiting)
            visit = _end_wait(waiting, WAIT_ENDS[Kind(kind)], data, at)
            waiting = None
            at_max_wait = visit if kind == Kind.MAX_WAIT else None
            if kind == Kind.ANSWERED:
                if talking is not None:  # a hand-over we did not see
                    talking.end_conversation(at)
                visit.agent = str(data.get("agent", ""))
                visit.answered_at = at
                talking, latest_answered = visit, visit
                by_agent[visit.agent] = visit
        elif kind == Kind.CALLBACK:
            callbacks += 1
            if at_max_wait is not None:
                at_max_wait.outcome, at_max_wait = "callback", None
        elif kind == Kind.MESSAGE:
            if at_max_wait is not None:
                at_max_wait.outcome, at_max_wait = "message", None
        elif kind == Kind.ACTION:
            if talking is not None:
                talking = _act(talking, str(data.get("action", "")), at)
        elif kind in (Kind.AGENT_HUNG_UP, Kind.CALLER_HUNG_UP, Kind.ENDED):
            if talking is not None:
                talking.end_conversation(at)
                talking = None
            if kind == Kind.ENDED:
                waiting = None  # a wait the log never saw end stays "other"
        elif kind in (Kind.SURVEY, Kind.WRAP_UP):
            agent = str(data.get("agent", ""))
            owner = by_agent.get(agent) if agent else latest_answered
            if owner is None:
                continue  # nobody's conversation in this call: nothing to attribute it to
            if kind == Kind.SURVEY:
                owner.surveys.append(str(data.get("result", "")))
            else:
                owner.wrap += _float(data.get("seconds")) or 0.0
        # Other kinds (started, offer, offer-failed, announcement, ...) do not count.

    if talking is not None:
        end = _aware(call.last_event_at) if call.last_event_at is not None else last_at
        talking.end_conversation(end)
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
