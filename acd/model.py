"""What admins declare about the contact centre: agents, queues, VIPs, owners, regions.

Read from the ACD YAML file (``acd.loader``); immutable; a reload builds a new one.
The live side (who is logged in, ready, on a call) is in ``acd.agents`` and the database.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

# Agents' roles are the API's; the ACD file declares each agent's.
from hotline.api import Role as Role
from hotline.numbers import normalise

LEVEL_MIN, LEVEL_MAX = 1, 5  # skill levels; 5 is the most expert


@dataclass(frozen=True)
class Agent:
    number: str  # the agent number they log in with (工号)
    name: str
    extension: str  # their own desk's phone
    skills: Mapping[str, int]  # skill -> level 1-5
    languages: frozenset[str]  # zh, en
    region: str  # a region id from the region table, or ""
    team: str
    role: Role
    # Every extension they may log in at: their own desk first, then the ones listed
    # for them (hot desks); the ACD rings them nowhere else (hotline.outbound).
    desks: tuple[str, ...] = ()

    def level(self, skill: str) -> int:
        return self.skills.get(skill, 0)


class StepScope(enum.StrEnum):
    """Whom a routing step offers the call to, among agents with the skills."""

    PREFERRED = "preferred"  # only the caller's pinned or owning agent
    REGION = "region"  # only agents of the caller's region
    ANY = "any"  # every agent with the skills


@dataclass(frozen=True)
class Step:
    """From ``after`` seconds of waiting, offer to agents in ``scope`` with every skill
    at ``min_level`` or above. Later steps relax earlier ones; a step with nobody logged
    in who fits is skipped at once, so nobody waits for an absent owner."""

    after: float
    scope: StepScope = StepScope.ANY
    min_level: int = LEVEL_MIN


DEFAULT_STEPS = (
    Step(0, StepScope.PREFERRED),
    Step(20, StepScope.REGION),
    Step(40, StepScope.ANY),
)


@dataclass(frozen=True)
class Announcements:
    """What a waiting caller hears between stretches of music on hold (R-4.6)."""

    first_after: float = 20.0  # seconds of waiting before the first
    every: float = 40.0  # then this often
    position: bool = True  # 「您前面还有N位」
    expected_wait: bool = True  # 「预计等待N分钟」
    callback_key: str = "1"  # "press 1 to be called back"; "" is off


@dataclass(frozen=True)
class Queue:
    name: str
    skills: frozenset[str]  # every agent offered a call has all of these
    priority: int  # 0-9 points added to the caller's own; see acd.routing
    ring_seconds: int  # how long an agent's phone rings (R-4.5: about four rings)
    wrapup_seconds: int  # after-call work before the agent is offered another call
    max_wait: int  # then the caller is offered a callback or a message
    overflow: str  # another queue to move to after ``overflow_after``, or ""
    overflow_after: int
    steps: tuple[Step, ...]
    announce: Announcements
    music: str  # music-on-hold class


@dataclass(frozen=True)
class Regions:
    """Region of a caller's number (R-4.3): the longest matching prefix of a mobile
    number's first seven digits (号段) or of a landline's area code, in the national
    form ``hotline.numbers`` writes every number in (+86 21 ... is 021 ...)."""

    prefixes: Mapping[str, str]  # prefix -> region id
    names: Mapping[str, str]  # region id -> display name

    def of(self, number: str) -> str:
        digits = normalise(number)
        if not digits[:1].isdigit():
            return ""  # anonymous, or another country's +...: no region of ours
        for length in range(min(len(digits), 8), 0, -1):
            region = self.prefixes.get(digits[:length])
            if region is not None:
                return region
        return ""


@dataclass(frozen=True)
class AcdSetup:
    path: str
    version: str
    agents: Mapping[str, Agent]
    queues: Mapping[str, Queue]
    # Caller numbers here are normalised (hotline.numbers) when the file is loaded; a
    # caller is normalised as it is looked up, so any written form finds its entry.
    vip: frozenset[str]  # caller numbers served ahead
    owners: Mapping[str, str]  # caller number -> the agent who owns the account
    pinned: Mapping[str, str]  # caller number -> the agent it always goes to first
    regions: Regions
    vip_boost: int = 3  # priority points a VIP caller gains
    ageing_seconds: float = 60.0  # each this many seconds of waiting is one more point

    def preferred_agent(self, caller: str) -> str:
        """The pinned agent, else the owner, else ""."""
        number = normalise(caller)
        return self.pinned.get(number) or self.owners.get(number, "")

    def is_vip(self, caller: str) -> bool:
        return normalise(caller) in self.vip

    def desks(self) -> dict[str, tuple[str, ...]]:
        """Agent -> the extensions they may log in at."""
        return {number: agent.desks for number, agent in self.agents.items()}
