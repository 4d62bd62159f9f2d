"""The FastAGI service over a real TCP connection, spoken to as Asterisk speaks: the
environment block, then a result line for every command; on an SQLite file database."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from dialplan.agi import AgiSession, FastAgiServer
from dialplan.requests import FallbackRequests
from hotline.config import Config
from hotline.db import create_schema, make_engine
from ivr.blacklist import Action, Blacklist
from tests.unit.agi_fixtures import DEADLINE, Asterisk, close_connections

__all__ = ["close_connections"]  # autouse: every test here closes its connections


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}")
    await create_schema(engine)
    blacklist = Blacklist(engine)
    await blacklist.add("13500135000", False, Action.REFUSE, "abuse")
    await blacklist.add("170", True, Action.SILENT, "fraud range")
    yield engine
    await engine.dispose()


@pytest.fixture
async def server(database: AsyncEngine) -> AsyncIterator[FastAgiServer]:
    server = FastAgiServer(FallbackRequests(Config(), database).handlers, request_timeout=1.0)
    await server.start()
    yield server
    await server.close()


@pytest.mark.parametrize(
    ("caller", "blacklisted", "action"),
    [
        ("13500135000", "yes", "refuse"),
        ("+8613500135000", "yes", "refuse"),  # however the carrier writes it
        ("17012345678", "yes", "silent"),
        ("13500135001", "no", ""),
        ("unknown", "no", ""),  # what Asterisk sends without a caller id
    ],
)
async def test_blacklist_check_answers_with_channel_variables(
    server: FastAgiServer, caller: str, blacklisted: str, action: str
) -> None:
    asterisk = await Asterisk.call(server.port, "blacklist-check", caller)
    assert await asterisk.variables() == {
        "HOTLINE_BLACKLISTED": blacklisted,
        "HOTLINE_BLACKLIST_ACTION": action,
    }
    assert server.served == 1


async def test_callers_side_by_side_each_get_their_answer(server: FastAgiServer) -> None:
    callers = ["13500135000", "13800138000"] * 5
    calls = [await Asterisk.call(server.port, "blacklist-check", c) for c in callers]
    answers = await asyncio.gather(*(call.variables() for call in calls))
    assert [a["HOTLINE_BLACKLISTED"] for a in answers] == ["yes", "no"] * 5
    assert server.served == 10


async def test_an_unknown_request_is_closed_without_a_command(server: FastAgiServer) -> None:
    asterisk = await Asterisk.call(server.port, "open-sesame", "13500135000")
    assert await asterisk.command() == ""
    assert server.served == 0


async def test_a_hangup_ends_the_request_and_the_server_serves_on(server: FastAgiServer) -> None:
    asterisk = await Asterisk.call(server.port, "blacklist-check", "13500135000")
    assert (await asterisk.command()).startswith("SET VARIABLE HOTLINE_BLACKLISTED")
    await asterisk.send("HANGUP\n")
    assert await asterisk.command() == ""  # no second command to a gone caller
    assert server.served == 0
    again = await Asterisk.call(server.port, "blacklist-check", "13500135000")
    assert (await again.variables())["HOTLINE_BLACKLISTED"] == "yes"


async def test_a_stalled_asterisk_is_dropped_at_the_request_timeout(
    server: FastAgiServer,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    Asterisk.opened.append(writer)
    writer.write(b"agi_network: yes\nagi_network_script: blacklist-check\n")  # no blank line
    started = time.monotonic()
    async with asyncio.timeout(DEADLINE):
        assert await reader.read() == b""  # the server closed it
    assert 0.9 <= time.monotonic() - started < 2.0
    assert server.connections == 0 and server.served == 0


async def test_close_cancels_connections_within_its_bound(database: AsyncEngine) -> None:
    entered = asyncio.Event()

    async def forever(session: AgiSession) -> None:
        entered.set()
        await asyncio.Event().wait()

    server = FastAgiServer({"forever": forever}, request_timeout=60)
    await server.start()
    asterisk = await Asterisk.call(server.port, "forever", "13500135000")
    async with asyncio.timeout(DEADLINE):
        await entered.wait()
    assert server.connections == 1
    started = time.monotonic()
    await server.close(grace=1.0)
    assert time.monotonic() - started < 1.5
    assert server.connections == 0
    assert await asterisk.command() == ""
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", asterisk.writer.get_extra_info("peername")[1])


async def test_a_value_that_could_break_out_of_its_quotes_is_never_sent() -> None:
    async def hostile(session: AgiSession) -> None:
        await session.set_variable("HOTLINE_NOTE", 'x"\nEXEC Dial PJSIP/0090012345')

    server = FastAgiServer({"hostile": hostile})
    await server.start()
    try:
        asterisk = await Asterisk.call(server.port, "hostile", "13500135000")
        assert await asterisk.command() == ""  # closed, nothing written
    finally:
        await server.close()
