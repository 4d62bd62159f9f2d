"""The live ACD: agents' sessions, the calls waiting, and the dispatcher that pairs them.

One dispatcher task, owned by the composition root, decides who gets which call
(``acd.routing``) whenever something changes (a call joins, an agent becomes ready, a
phone was not answered) and at least every second, so routing steps relax and wrap-ups
end on time. An offer reaches the waiting call's own task as a synthetic ``HotlineOffer``
event on its channel; that task rings the agent and reports back (``ring_result``). Every
change to an agent is stored before the method returns, so a restarted controller knows
who was ready, ringing or talking.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from acd import routing
from acd.agents import Activity, AgentStateError
from acd.model import AcdSetup, Queue
from acd.sessions import AgentSessions
from acd.store import AcdStore
from acd.waiter import (
    ACTION_EVENT,
    ACTION_TIMEOUT,
    OFFER_EVENT,
    PICKUP_EVENT,
    NoSuchCall,
    UnknownQueue,
    Waiter,
)
from hotline.ari.models import Event
from hotline.errors import HotlineError
from hotline.numbers import normalise

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between decisions when nothing happens


class ActionTimedOut(HotlineError):
    error_id = "action-timed-out"
    http_status = 504


class Acd(AgentSessions):
    def __init__(
        self,
        setup: Callable[[], AcdSetup],
        store: AcdStore,
        publish: Callable[[dict[str, Any]], None] = lambda _e: None,
        clock: Callable[[], float] = time.time,
        on_wrapup: Callable[[str, str, float], Awaitable[None]] | None = None,
    ) -> None:
        # Told (agent, call id, seconds) when an agent's wrap-up after a call ends: the
        # call's timeline gets it, for the handle time (AHT = talk + hold + wrap-up).
        super().__init__(setup, store, publish, clock)
        self.on_wrapup = on_wrapup
        self._wrapup_began: dict[str, tuple[str, float]] = {}
        self.waiting: dict[str, Waiter] = {}
        # Calls talking to an agent: call id -> (agent, the call's event inbox).
        self.conversations: dict[str, tuple[str, Callable[[Event], None]]] = {}

    # --- life cycle -----------------------------------------------------------------------
    async def load(self, open_calls: Iterable[str] = ()) -> None:
        """Agents as stored. A phone that was ringing was hung up with the controller's
        legs, so that agent is idle again; one talking on a call that has ended goes to
        wrap-up ending now; one on a call still open stays on it (the call resumes)."""
        still_open = set(open_calls)
        now = self.clock()
        for session in await self.store.load_agents():
            self.agents[session.number] = session
            if session.activity is Activity.RINGING:
                session.cancelled(session.call_id, now)
            elif session.activity is Activity.ON_CALL and session.call_id not in still_open:
                session.call_ended(session.call_id, 0, now)
            else:
                continue
            log.info("agent %s was left %s by the last controller", session.number, session.state)
            self._dirty.add(session.number)
        await self._save()

    async def run(self) -> None:
        """The dispatcher: decide, then sleep until woken or the next tick."""
        while True:
            try:
                await self.dispatch()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ACD dispatch failed; trying again")
            try:
                await asyncio.wait_for(self._wake.wait(), TICK)
            except TimeoutError:
                pass
            self._wake.clear()

    async def dispatch(self) -> list[routing.Offer]:
        now = self.clock()
        setup = self.setup
        wrapped: list[tuple[str, str, float]] = []
        for session in self.agents.values():
            if session.activity is Activity.WRAP_UP and session.wrapup_until <= now:
                call_id, began = self._wrapup_began.pop(session.number, (session.call_id, now))
                wrapped.append((session.number, call_id, now - began))
                session.wrapup_done(now)
                self._changed(session)
        calls = [w.call for w in self.waiting.values() if not w.ringing and not w.picked_by]
        offers = routing.assign(calls, self.views(setup), setup, now) if calls else []
        # State first, with no await in between, so nothing can change under the
        # decision; then the writes, then the calls hear of their offers.
        chosen = []
        for offer in offers:
            waiter = self.waiting[offer.call_id]
            session = self.agents[offer.agent]
            session.offer(offer.call_id, now)
            waiter.ringing = offer.agent
            waiter.history.append(offer.agent)
            self._changed(session)
            chosen.append((offer, waiter))
        for offer, waiter in chosen:
            try:
                offer_id = await self.store.offered(
                    offer.call_id, offer.agent, waiter.call.queue, waiter.caller
                )
            except Exception:
                # Never an agent marked ringing for an offer nobody will ring.
                log.exception("offer of %s to %s not stored; undone", offer.call_id, offer.agent)
                self.agents[offer.agent].cancelled(offer.call_id, self.clock())
                self._changed(self.agents[offer.agent])
                if waiter.ringing == offer.agent:
                    waiter.ringing = ""
                continue
            if self.waiting.get(offer.call_id) is not waiter or waiter.ringing != offer.agent:
                await self.store.offer_outcome(offer_id, "cancelled")  # the caller left
                continue
            waiter.offer_id = offer_id
            waiter.deliver(
                Event(
                    OFFER_EVENT,
                    {
                        "agent": offer.agent,
                        "extension": self.agents[offer.agent].extension,
                        "step": offer.step,
                    },
                )
            )
        await self._save()
        if self.on_wrapup is not None:
            for agent, call_id, seconds in wrapped:
                await self.on_wrapup(agent, call_id, seconds)
        return offers

    # --- calls ------------------------------------------------------------------------------
    def queue(self, name: str) -> Queue:
        queue = self.setup.queues.get(name)
        if queue is None:
            raise UnknownQueue(f"no queue named '{name}'", queue=name)
        return queue

    async def join(
        self,
        call_id: str,
        queue_name: str,
        skills: Iterable[str],
        priority: int,
        caller: str,
        language: str,
        deliver: Callable[[Event], None],
        joined_at: float | None = None,
        reachable: bool = False,
    ) -> Waiter | None:
        """Put a call in a queue; None if nobody logged in could ever take it there (the
        menu then uses the node's fallback instead of leaving the caller waiting), unless
        the caller knows someone can (``reachable``: an agent is about to be rung)."""
        setup = self.setup
        # Calls keep the normalised number from the start; a call resumed from a record
        # stored before that may not, and the wait's row and live views must not differ.
        caller = normalise(caller)
        queue = self.queue(queue_name)
        call = routing.WaitingCall(
            call_id=call_id,
            queue=queue_name,
            skills=frozenset(queue.skills | set(skills)),
            priority=priority,
            vip=setup.is_vip(caller),
            joined_at=self.clock() if joined_at is None else joined_at,
            region=setup.regions.of(caller),
            preferred=setup.preferred_agent(caller),
            language=language,
        )
        if not reachable and not routing.reachable(call, self.views(setup), setup, self.clock()):
            return None
        waiter = Waiter(call, caller, deliver)
        waiter.wait_id = await self.store.joined(
            call_id,
            queue_name,
            caller,
            priority,
            datetime.fromtimestamp(call.joined_at, UTC),
        )
        self.waiting[call_id] = waiter
        self.publish({"type": "call-queued", "call": call_id, "queue": queue_name})
        self.wake()
        return waiter

    async def ring_result(self, waiter: Waiter, agent: str, outcome: str) -> None:
        """What became of an offer: answered, no-answer, busy, unreachable, cancelled."""
        session = self._session(agent)
        now = self.clock()
        if outcome == "answered":
            # Taken: out of the dispatcher's sight before the awaits below, or it could
            # offer the call to another agent in between (leave() then records the wait).
            self.waiting.pop(waiter.call_id, None)
            session.answered(waiter.call_id, now)
        elif outcome == "cancelled":
            session.cancelled(waiter.call_id, now)
        else:
            session.missed(waiter.call_id, outcome, now)
        self._changed(session)
        if waiter.ringing == agent:
            waiter.ringing = ""
        if waiter.offer_id:
            await self.store.offer_outcome(waiter.offer_id, outcome)
            waiter.offer_id = 0
        await self._save()
        self.wake()

    async def leave(self, waiter: Waiter, outcome: str, agent: str = "") -> float:
        """The call leaves the queue; returns how long it waited. An agent still ringing
        for it is freed (the call's task hangs up the phone)."""
        if waiter.ringing:
            await self.ring_result(waiter, waiter.ringing, "cancelled")
        self.waiting.pop(waiter.call_id, None)
        waited = await self.store.left(waiter.wait_id, outcome, agent)
        self.publish(
            {"type": "call-left", "call": waiter.call_id, "outcome": outcome, "wait": waited}
        )
        self.wake()
        return waited

    async def move(self, waiter: Waiter, queue_name: str, skills: Iterable[str]) -> bool:
        """Move a waiting call to another queue (overflow, a transfer to a queue) with
        its join time kept; False, and nothing changed, if nobody there could take it."""
        setup = self.setup
        queue = self.queue(queue_name)
        moved = dataclasses.replace(
            waiter.call, queue=queue_name, skills=frozenset(queue.skills | set(skills))
        )
        if not routing.reachable(moved, self.views(setup), setup, self.clock()):
            return False
        if waiter.ringing:
            await self.ring_result(waiter, waiter.ringing, "cancelled")
        await self.store.left(waiter.wait_id, "moved")
        waiter.call = moved
        waiter.wait_id = await self.store.joined(
            waiter.call_id,
            queue_name,
            waiter.caller,
            moved.priority,
            datetime.fromtimestamp(moved.joined_at, UTC),
        )
        self.waiting[waiter.call_id] = waiter
        self.publish({"type": "call-moved", "call": waiter.call_id, "queue": queue_name})
        self.wake()
        return True

    async def connected(self, agent: str, call_id: str) -> None:
        """An agent reached a call without an offer (pick-up, transfer to them)."""
        session = self._session(agent)
        session.connect(call_id, self.clock())
        self._changed(session)
        await self._save()

    async def on_the_call(self, agent: str, call_id: str) -> None:
        """The agent is talking on ``call_id``. Normally already so; after a restart the
        stored agent may lag the stored call (the ring was cut, so it is idle now)."""
        session = self.session(agent)
        if session.activity is Activity.ON_CALL and session.call_id == call_id:
            return
        try:
            session.connect(call_id, self.clock())
        except AgentStateError as exc:
            log.warning("call %s resumed with agent %s: %s", call_id, agent, exc.message)
            return
        await self._commit(session)

    async def call_ended(self, agent: str, call_id: str, queue: str) -> None:
        session = self._session(agent)
        if session.call_id != call_id or session.activity is not Activity.ON_CALL:
            return  # already moved on (a supervisor took the call over, a restart)
        wrapup = self.setup.queues[queue].wrapup_seconds if queue in self.setup.queues else 0
        session.call_ended(call_id, wrapup, self.clock())
        if wrapup > 0:
            self._wrapup_began[agent] = (call_id, self.clock())
        self._changed(session)
        await self._save()
        self.wake()

    async def call_gone(self, call_id: str, queue: str) -> None:
        """A call's record was closed: an agent still on it (its caller went while no
        controller was looking) goes to wrap-up, then ready, as after any call."""
        self.conversations.pop(call_id, None)
        for number, session in list(self.agents.items()):
            if session.call_id == call_id and session.activity is Activity.ON_CALL:
                await self.call_ended(number, call_id, queue)

    async def pick_up(self, agent: str, call_id: str) -> None:
        """抢接: ``agent`` takes ``call_id``, which is ringing at another agent now."""
        waiter = self.waiting.get(call_id)
        if waiter is None or not waiter.ringing or waiter.picked_by:
            raise NoSuchCall(f"call {call_id} is not ringing at an agent", call=call_id)
        if waiter.ringing == agent:
            raise AgentStateError(f"call {call_id} is already ringing at {agent}", agent=agent)
        session = self.session(agent)
        session.pick_up(call_id, self.clock())
        waiter.picked_by = agent
        await self._commit(session)
        waiter.deliver(Event(PICKUP_EVENT, {"agent": agent, "extension": session.extension}))

    async def reserve(self, waiter: Waiter, agent: str) -> str:
        """Ring one named agent for a waiting call (a transfer to that agent): they must
        be ready and idle. Returns the extension to ring."""
        session = self.session(agent)
        session.offer(waiter.call_id, self.clock())
        waiter.ringing = agent
        waiter.history.append(agent)
        waiter.offer_id = await self.store.offered(
            waiter.call_id, agent, waiter.call.queue, waiter.caller
        )
        await self._commit(session)
        return session.extension

    def talking(self, call_id: str, agent: str, deliver: Callable[[Event], None]) -> None:
        self.conversations[call_id] = (agent, deliver)

    def done_talking(self, call_id: str) -> None:
        self.conversations.pop(call_id, None)

    def call_of(self, agent: str) -> str:
        """The call an agent is talking on."""
        for call_id, (who, _) in self.conversations.items():
            if who == agent:
                return call_id
        raise NoSuchCall(f"agent {agent} is not on a call", agent=agent)

    async def act(self, call_id: str, action: str, **args: Any) -> dict[str, Any]:
        """Ask the call's own task to do ``action`` on its conversation (transfer, hold,
        supervise, ...); its answer, or the error it raised."""
        found = self.conversations.get(call_id)
        if found is None:
            raise NoSuchCall(f"call {call_id} is not talking to an agent", call=call_id)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        found[1](Event(ACTION_EVENT, {"action": action, "future": future, **args}))
        try:
            return await asyncio.wait_for(future, ACTION_TIMEOUT)
        except TimeoutError:
            # The future is cancelled with the wait: the call skips it when it gets there,
            # so an action the asker was told failed never happens later.
            raise ActionTimedOut(
                f"call {call_id} did not {action} within {ACTION_TIMEOUT:g} s", call=call_id
            ) from None

    def position(self, call_id: str) -> int:
        calls = [w.call for w in self.waiting.values()]
        return routing.position(call_id, calls, self.setup, self.clock())

    def expected_wait(self, call_id: str, handle_seconds: float = 180.0) -> float:
        """Seconds: the calls ahead times a typical handle time, shared by the agents
        serving that queue (at least one)."""
        waiter = self.waiting.get(call_id)
        if waiter is None:
            return 0.0
        serving = [v for v in self.views(self.setup) if waiter.call.queue in v.queues]
        return self.position(call_id) * handle_seconds / max(1, len(serving))
