"""The database held locked by another connection for 10 s: callers in the menu and in a
queue go on, an agent who becomes ready gets the waiting call, the event socket
reconnects and reconciles, the controller stays up, /health says ``degraded`` (naming the
database) and then ``ok``, and every record is complete once the lock is gone."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from acd.store import AcdStore, OfferRow
from hotline.db import make_engine, session_factory
from tests.harness.centre import Centre, wait_queued
from tests.harness.db import call_for, events_of
from tests.harness.stack import Stack
from tests.harness.tester import Tester

LOCK_SECONDS = 10.0


@dataclass
class Lock:
    taken_at: float = 0.0  # time.monotonic()
    released_at: float = 0.0

    def held_at(self, moment: float) -> bool:
        return self.taken_at <= moment and (self.released_at == 0 or moment < self.released_at)

    def held(self) -> bool:
        return self.held_at(time.monotonic())


@contextlib.asynccontextmanager
async def database_locked(stack: Stack, seconds: float = LOCK_SECONDS) -> AsyncIterator[Lock]:
    """Another connection holds the controller's database with ``BEGIN EXCLUSIVE`` for
    ``seconds`` from entering, whatever the body does meanwhile (leaving waits for the
    release, if it has not come yet)."""
    conn = sqlite3.connect(stack.config.state_dir / "hotline.db", timeout=5, isolation_level=None)
    lock = Lock()
    released = asyncio.Event()

    def release() -> None:
        if not released.is_set():
            conn.rollback()
            conn.close()
            lock.released_at = time.monotonic()
            released.set()

    conn.execute("BEGIN EXCLUSIVE")  # (in WAL mode: no other writer, readers go on)
    lock.taken_at = time.monotonic()
    timer = asyncio.get_running_loop().call_later(seconds, release)
    try:
        yield lock
        await released.wait()
    finally:
        timer.cancel()
        release()


def degraded_by_the_database(health: dict[str, Any]) -> bool:
    return (
        health["status"] == "degraded"
        and health["database"]["status"] == "locked"
        and any(r.startswith("database") for r in health["reasons"])
    )


def healthy(health: dict[str, Any]) -> bool:
    return bool(health["status"] == "ok" and health["database"]["pending_writes"] == 0)


async def offers_of(stack: Stack, call_id: str) -> list[tuple[str, str]]:
    engine = make_engine(stack.config.db_url)
    try:
        async with session_factory(engine)() as db:
            rows = await db.scalars(select(OfferRow).where(OfferRow.call_id == call_id))
            return [(r.agent, r.outcome) for r in rows]
    finally:
        await engine.dispose()


async def waits_of(stack: Stack, call_id: str) -> list[tuple[str, str, str]]:
    engine = make_engine(stack.config.db_url)
    try:
        return [(w.queue, w.outcome, w.agent) for w in await AcdStore(engine).waits(call_id)]
    finally:
        await engine.dispose()


async def test_menu_and_queue_go_on_while_the_database_is_locked(centre: Centre) -> None:
    stack = centre.stack
    controller = stack.controller
    desk = await centre.agent("1001", ready=False)  # logged in: complaints can queue
    waiting = await centre.call("4", caller_id="13600000401")  # complaints
    queued = await call_for(stack, "13600000401", 10)
    await wait_queued(stack, queued.id)

    async with database_locked(stack) as lock:
        # A new caller is answered and walks the menu: the key pressed during the
        # greeting leads to the repair menu. Meanwhile the agent becomes ready: the
        # waiting call is offered and answered at once.
        walker = await centre.call("2", caller_id="13600000402")
        await desk.ready()
        await centre.phones["1001"].wait_call(1, 10)
        await desk.wait_me(lambda m: m["state"] == "on-call", 10, "on the call")
        assert lock.held_at(walker.answered_at) and lock.held_at(centre.phones["1001"].rang_at[0])
        assert lock.held(), "the queued call was answered only after the lock"
        await controller.wait_health(degraded_by_the_database, 10)
        assert lock.held(), "/health said degraded only after the lock"
        repair = await walker.expect_heard(stack.prompt("repair-menu"), timeout=10)
        assert lock.held_at(walker.answered_at + repair.offset_s), "the menu waited for the lock"
        assert not await waiting.is_gone()

    await controller.wait_health(healthy, 15)
    await walker.hangup()
    await centre.phones["1001"].hang_up()
    await desk.wait_me(lambda m: m["state"] in ("wrap-up", "ready"), 10, "off the call")
    await waiting.hangup()  # (at the survey)

    walked = await call_for(stack, "13600000402", 10, closed=True)
    assert (walked.keys, walked.node, walked.disposition) == ("2", "repair", "caller_hangup")
    kinds = [e.kind for e in await events_of(stack, walked.id)]
    assert kinds[0] == "started" and kinds[-1] == "ended" and "key" in kinds
    answered = await call_for(stack, "13600000401", 10, closed=True)
    assert answered.agent == "1001"
    assert await offers_of(stack, answered.id) == [("1001", "answered")]
    assert await waits_of(stack, answered.id) == [("complaints", "answered", "1001")]
    assert (await controller.health() or {})["database"]["dropped_writes"] == 0


async def test_the_event_socket_reconnects_and_reconciles_under_the_lock(
    controller: Stack, tester: Tester
) -> None:
    stays = await tester.call("4008001234", caller_id="13600000403")
    leaves = await tester.call("4008001234", caller_id="13600000404")
    await stays.press("2")  # barges into the greeting: the repair menu
    await node_is(controller, "13600000403", "repair")
    await call_for(controller, "13600000404", 10)
    before = await controller.controller.wait_health(lambda h: h["ari"]["connected"], 5)

    async with database_locked(controller) as lock:
        assert controller.proxy.cut() >= 1
        await leaves.hangup()  # while the socket is down: reconcile finds it gone
        await controller.controller.wait_health(
            lambda h: h["ari"]["connected"] and h["ari"]["connects"] > before["ari"]["connects"],
            10,
        )
        pressed_at = stays.position()
        await stays.press("*")  # back to the main menu
        await controller.controller.wait_health(degraded_by_the_database, 10)
        assert lock.held(), "/health said degraded only after the lock"
        menu = await stays.expect_heard(
            controller.prompt("main-menu"), timeout=10, after_s=pressed_at
        )
        assert lock.held_at(stays.answered_at + menu.offset_s), "the menu waited for the lock"

    await controller.controller.wait_health(healthy, 15)
    await stays.hangup()
    left = await call_for(controller, "13600000404", 10, closed=True)
    assert left.disposition == "caller_hangup"
    stayed = await call_for(controller, "13600000403", 10, closed=True)
    assert (stayed.keys, stayed.node, stayed.disposition) == ("2*", "main", "caller_hangup")
    assert (await controller.controller.health() or {})["database"]["dropped_writes"] == 0


async def node_is(stack: Stack, caller_id: str, node: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while (await call_for(stack, caller_id, timeout)).node != node:
        assert time.monotonic() < deadline, f"call from {caller_id} never reached {node}"
        await asyncio.sleep(0.1)
