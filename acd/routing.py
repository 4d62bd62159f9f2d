"""Which waiting call goes next, and to which agent: pure functions, no I/O, no clock.

Every decision is made afresh from the live state it is given, so a rule edited or an
agent signed in while callers wait applies to them at once (app_queue freezes rules at
join time; its users complain).

Call order. A call's score is its priority (dialled number or menu node, 1-9), plus the
queue's points, plus ``vip_boost`` for a VIP caller, plus one point for every
``ageing_seconds`` it has waited, so a low-priority call overtakes new urgent ones in
time and nothing starves. Ties go to the longer wait.

Agent choice. The call's routing steps relax with its wait; the step in force is the
latest reached, skipping any step that nobody logged in could satisfy. Among free agents
eligible under it: the caller's pinned or owning agent first, then agents who speak the
caller's language, then the best skill levels (their sum over the skills asked for),
then the longest idle.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from acd.model import AcdSetup, Queue, Step, StepScope


@dataclass(frozen=True)
class WaitingCall:
    call_id: str
    queue: str
    skills: frozenset[str]  # the queue's and the menu node's
    priority: int
    vip: bool
    joined_at: float  # when it began waiting, on the engine's clock (seconds)
    region: str
    preferred: str  # pinned or owning agent number, or ""
    language: str


@dataclass(frozen=True)
class AgentView:
    """One logged-in agent as routing sees it."""

    number: str
    skills: Mapping[str, int]
    region: str
    languages: frozenset[str]
    queues: frozenset[str]  # the queues (skill groups) they are signed in to
    free: bool  # ready and idle: may be offered a call now
    idle_since: float


@dataclass(frozen=True)
class Offer:
    call_id: str
    agent: str
    step: int  # index of the routing step that allowed it


def score(call: WaitingCall, queue: Queue, setup: AcdSetup, now: float) -> float:
    boost = setup.vip_boost if call.vip else 0
    return call.priority + queue.priority + boost + (now - call.joined_at) / setup.ageing_seconds


class AgentPool:
    """Logged-in agents indexed by skill, built once per decision."""

    def __init__(self, agents: Iterable[AgentView]) -> None:
        self.agents: dict[str, AgentView] = {}
        self.by_skill: dict[str, list[AgentView]] = {}
        for agent in agents:
            self.agents[agent.number] = agent
            for skill in agent.skills:
                self.by_skill.setdefault(skill, []).append(agent)

    def with_skills(self, skills: frozenset[str]) -> Iterator[AgentView]:
        """Agents holding every skill in ``skills`` (at any level)."""
        if not skills:
            yield from self.agents.values()
            return
        buckets = [self.by_skill.get(s, []) for s in skills]
        smallest = min(buckets, key=len)
        for agent in smallest:
            if all(s in agent.skills for s in skills):
                yield agent


def fits(agent: AgentView, call: WaitingCall, step: Step) -> bool:
    """May ``agent`` take ``call`` under ``step`` (whatever they are doing now)?"""
    if call.queue not in agent.queues:
        return False
    if any(agent.skills.get(s, 0) < step.min_level for s in call.skills):
        return False
    if step.scope is StepScope.PREFERRED:
        return agent.number == call.preferred
    if step.scope is StepScope.REGION:
        return bool(call.region) and agent.region == call.region
    return True


def step_in_force(
    call: WaitingCall, queue: Queue, pool: AgentPool, now: float
) -> tuple[int, Step] | None:
    """The routing step that applies now, or None when nobody logged in could ever take
    the call under any step still ahead of it."""
    waited = now - call.joined_at
    reached = 0
    for index, step in enumerate(queue.steps):
        if step.after <= waited:
            reached = index
    for index in range(reached, len(queue.steps)):
        step = queue.steps[index]
        if _anyone(call, step, pool):
            return index, step
    return None


def _anyone(call: WaitingCall, step: Step, pool: AgentPool) -> bool:
    if step.scope is StepScope.PREFERRED:
        agent = pool.agents.get(call.preferred)
        return agent is not None and fits(agent, call, step)
    return any(fits(a, call, step) for a in pool.with_skills(call.skills))


def rank(agent: AgentView, call: WaitingCall) -> tuple[bool, bool, int, float, str]:
    """Sort key: the best agent for ``call`` sorts first."""
    level = sum(agent.skills.get(s, 0) for s in call.skills)
    return (
        agent.number != call.preferred,
        call.language not in agent.languages,
        -level,
        agent.idle_since,
        agent.number,
    )


def call_order(
    calls: Iterable[WaitingCall], queues: Mapping[str, Queue], setup: AcdSetup, now: float
) -> list[WaitingCall]:
    """Waiting calls, the one to serve first first."""
    return sorted(
        calls,
        key=lambda c: (-score(c, queues[c.queue], setup, now), c.joined_at, c.call_id),
    )


def assign(
    calls: Sequence[WaitingCall],
    agents: Iterable[AgentView],
    setup: AcdSetup,
    now: float,
) -> list[Offer]:
    """Pair waiting calls with free agents: each call at most one agent, each agent at
    most one call, the highest-scoring calls choosing first."""
    pool = AgentPool(agents)
    taken: set[str] = set()
    offers: list[Offer] = []
    for call in call_order(calls, setup.queues, setup, now):
        queue = setup.queues[call.queue]
        found = step_in_force(call, queue, pool, now)
        if found is None:
            continue
        index, step = found
        best: AgentView | None = None
        for agent in pool.with_skills(call.skills):
            if not agent.free or agent.number in taken or not fits(agent, call, step):
                continue
            if best is None or rank(agent, call) < rank(best, call):
                best = agent
        if best is not None:
            taken.add(best.number)
            offers.append(Offer(call.call_id, best.number, index))
    return offers


def reachable(call: WaitingCall, agents: Iterable[AgentView], setup: AcdSetup, now: float) -> bool:
    """Could anyone logged in take this call, now or after its steps relax?"""
    return step_in_force(call, setup.queues[call.queue], AgentPool(agents), now) is not None


def position(call_id: str, calls: Iterable[WaitingCall], setup: AcdSetup, now: float) -> int:
    """1 for the next call of its queue to be served, 2 behind it, ...; 0 if unknown."""
    ordered = call_order(calls, setup.queues, setup, now)
    mine = next((c for c in ordered if c.call_id == call_id), None)
    if mine is None:
        return 0
    same = [c for c in ordered if c.queue == mine.queue]
    return same.index(mine) + 1
