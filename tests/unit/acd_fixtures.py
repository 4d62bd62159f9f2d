"""Shared by the ACD unit tests: a small contact centre and an in-memory store."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import Any

from acd.agents import AgentSession
from acd.loader import parse_acd
from acd.model import AcdSetup
from acd.store import AcdStore

CENTRE = """
queue_defaults:
  steps:
    - {after: 0, scope: preferred}
    - {after: 20, scope: region}
    - {after: 40, scope: any}
queues:
  repair: {skills: [repair]}
  gas: {skills: [repair, gas], priority: 2}
  general: {skills: []}
agents:
  "1": {name: A, skills: {repair: 2}, region: shanghai}
  "2": {name: B, skills: {repair: 5, gas: 1}, region: beijing}
  "3": {name: C, skills: {repair: 5}, region: shanghai, languages: [zh, en]}
  "4": {name: D, skills: {billing: 3}}
vip: ["13900000001"]
owners: {"13800000001": "1"}
regions:
  shanghai: {prefixes: ["021"]}
  beijing: {prefixes: ["010"]}
"""


def centre(text: str = CENTRE) -> AcdSetup:
    return parse_acd(Path("centre.yaml"), text)


class MemoryStore(AcdStore):
    """The ACD's store without a database, for tests of the engine's logic."""

    def __init__(self) -> None:
        self.saved: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[int, str] = {}
        self.wait_outcomes: dict[int, str] = {}
        self._ids = itertools.count(1)

    async def load_agents(self) -> list[AgentSession]:
        return [AgentSession.from_dict(dict(d)) for d in self.saved.values()]

    async def save_agent(self, session: AgentSession) -> None:
        self.saved[session.number] = session.as_dict()

    async def offered(self, call_id: str, agent: str, queue: str, caller: str) -> int:
        offer_id = next(self._ids)
        self.outcomes[offer_id] = "ringing"
        return offer_id

    async def offer_outcome(self, offer_id: int, outcome: str) -> None:
        self.outcomes[offer_id] = outcome

    async def joined(
        self, call_id: str, queue: str, caller: str, priority: int, joined_at: datetime
    ) -> int:
        wait_id = next(self._ids)
        self.wait_outcomes[wait_id] = "waiting"
        return wait_id

    async def left(self, wait_id: int, outcome: str, agent: str = "") -> float:
        self.wait_outcomes[wait_id] = outcome
        return 0.0
