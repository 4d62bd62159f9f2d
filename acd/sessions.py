"""Agents' sessions as the ACD keeps them: who is logged in where, ready or not, in
which skill groups; every change stored before the method returns and published to the
live events, and the dispatcher woken (``acd.engine.Acd`` builds on this)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from acd import routing
from acd.agents import AgentSession, AgentStateError, Status
from acd.model import AcdSetup, Agent
from acd.store import AcdStore
from hotline.errors import HotlineError


class UnknownAgent(HotlineError):
    error_id = "unknown-agent"
    http_status = 404


class AgentSessions:
    def __init__(
        self,
        setup: Callable[[], AcdSetup],
        store: AcdStore,
        publish: Callable[[dict[str, Any]], None],
        clock: Callable[[], float],
        on_wrapup: Callable[[str, str, float], Awaitable[None]] | None = None,
    ) -> None:
        # Told (agent, call id, seconds) when an agent's wrap-up after a call ends: the
        # call's timeline gets it, for the handle time (AHT = talk + hold + wrap-up).
        self.on_wrapup = on_wrapup
        self._wrapup_began: dict[str, tuple[str, float]] = {}
        self._setup = setup
        self.store = store
        self.publish = publish
        self.clock = clock
        self.agents: dict[str, AgentSession] = {}
        self._wake = asyncio.Event()
        self._saving = asyncio.Lock()
        self._dirty: set[str] = set()

    @property
    def setup(self) -> AcdSetup:
        return self._setup()

    def wake(self) -> None:
        """Something changed: the dispatcher decides again now."""
        self._wake.set()

    def views(self, setup: AcdSetup) -> list[routing.AgentView]:
        views = []
        for number, session in self.agents.items():
            agent = setup.agents.get(number)
            if agent is None or not session.logged_in or session.status is Status.LOGGED_OUT:
                continue
            views.append(
                routing.AgentView(
                    number=number,
                    skills=agent.skills,
                    region=agent.region,
                    languages=agent.languages,
                    queues=frozenset(self.queues_of(agent, session, setup)),
                    free=session.offerable,
                    idle_since=session.idle_since,
                )
            )
        return views

    @staticmethod
    def queues_of(agent: Agent, session: AgentSession, setup: AcdSetup) -> list[str]:
        """The skill groups an agent serves: every queue whose skills they hold, less
        those they signed out of."""
        return [
            name
            for name, queue in setup.queues.items()
            if all(s in agent.skills for s in queue.skills) and name not in session.signed_out
        ]

    # --- agents -------------------------------------------------------------------------------
    def agent(self, number: str) -> Agent:
        agent = self.setup.agents.get(number)
        if agent is None:
            raise UnknownAgent(f"no agent numbered '{number}'", agent=number)
        return agent

    def session(self, number: str) -> AgentSession:
        self.agent(number)
        return self._session(number)

    def _session(self, number: str) -> AgentSession:
        session = self.agents.get(number)
        if session is None:
            session = self.agents[number] = AgentSession(number)
        return session

    async def log_in(self, number: str, extension: str) -> AgentSession:
        session = self.session(number)
        session.log_in(extension, self.clock())
        return await self._commit(session)

    async def log_out(self, number: str) -> AgentSession:
        session = self.session(number)
        session.log_out(self.clock())
        return await self._commit(session)

    async def end_wrapup(self, number: str) -> AgentSession:
        """The agent is done with the call's paperwork before the wrap-up time is up
        (AgentStateError when not in wrap-up); the time taken is what the KPIs count."""
        session = self.session(number)
        now = self.clock()
        session.wrapup_done(now)
        call_id, began = self._wrapup_began.pop(number, (session.call_id, now))
        await self._commit(session)
        if self.on_wrapup is not None:
            await self.on_wrapup(number, call_id, now - began)
        return session

    async def set_status(self, number: str, status: Status, reason: str = "") -> AgentSession:
        session = self.session(number)
        session.set_status(status, reason, self.clock())
        return await self._commit(session)

    async def set_muted(self, number: str, muted: bool) -> AgentSession:
        session = self.session(number)
        session.set_muted(muted, self.clock())
        return await self._commit(session)

    async def sign(self, number: str, queue: str, signed_in: bool) -> AgentSession:
        """Sign in to or out of a skill group (签入/签出)."""
        agent = self.agent(number)
        if queue not in self.queues_of(agent, AgentSession(number), self.setup):
            raise AgentStateError(
                f"agent {number} lacks the skills of queue '{queue}'", agent=number, queue=queue
            )
        session = self.session(number)
        signed_out = set(session.signed_out)
        if signed_in:
            signed_out.discard(queue)
        else:
            signed_out.add(queue)
        session.signed_out = sorted(signed_out)
        return await self._commit(session)

    async def _commit(self, session: AgentSession) -> AgentSession:
        self._changed(session)
        await self._save()
        self.wake()
        return session

    def _changed(self, session: AgentSession) -> None:
        self._dirty.add(session.number)
        self.publish(
            {
                "type": "agent",
                "agent": session.number,
                "state": session.state,
                "reason": session.reason,
                "call": session.call_id,
            }
        )

    async def _save(self) -> None:
        """Store every changed agent as it is now. One writer at a time, so the last
        write of an agent is always its latest state."""
        async with self._saving:
            dirty, self._dirty = self._dirty, set()
            for number in sorted(dirty):
                await self.store.save_agent(self.agents[number])
