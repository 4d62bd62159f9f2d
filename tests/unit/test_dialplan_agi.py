"""The FastAGI service over a real TCP connection, spoken to as Asterisk speaks: the
environment block, then a result line for every command; on an SQLite file database."""

from __future__ import annotations

import asyncio
import contextlib
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

DEADLINE = 5.0  # seconds for any one step of a test; the server answers in milliseconds


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'hotline.db'}")
    await create_schema(engine)
    blacklist = Blacklist(engine)
    await blacklist.add("13500135000", False, Action.REFUSE, "abuse")
    await blacklist.add("170", True, Action.SILENT, "fraud range")
    yield engine
    await engine.dispose()


@pytest.fixture(autouse=True)
async def close_connections() -> AsyncIterator[None]:
    yield
    while Asterisk.opened:
        writer = Asterisk.opened.pop()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@pytest.fixture
async def server(database: AsyncEngine) -> AsyncIterator[FastAgiServer]:
    server = FastAgiServer(FallbackRequests(Config(), database).handlers, request_timeout=1.0)
    await server.start()
    yield server
    await server.close()


class Asterisk:
    """Asterisk's side of one FastAGI connection; ``opened`` keeps every one to close."""

    opened: list[asyncio.StreamWriter] = []

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def call(cls, port: int, request: str, caller: str) -> Asterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        cls.opened.append(writer)
        asterisk = cls(reader, writer)
        env = {
            "agi_network": "yes",
            "agi_network_script": request,
            "agi_request": f"agi://127.0.0.1:{port}/{request}",
            "agi_channel": "PJSIP/carrier-00000001",
            "agi_language": "en",
            "agi_type": "PJSIP",
            "agi_uniqueid": "1764683472.1",
            "agi_callerid": caller,
            "agi_calleridname": "unknown",
            "agi_context": "fallback-menu",
            "agi_extension": "s",
            "agi_priority": "2",
        }
        await asterisk.send("".join(f"{k}: {v}\n" for k, v in env.items()) + "\n")
        return asterisk

    async def send(self, text: str) -> None:
        self.writer.write(text.encode())
        await self.writer.drain()

    async def command(self) -> str:
        """The next command the service sends ("" once it has closed the connection)."""
        async with asyncio.timeout(DEADLINE):
            return (await self.reader.readline()).decode().rstrip("\n")

    async def variables(self) -> dict[str, str]:
        """Answer every SET VARIABLE as Asterisk does until the service hangs up."""
        found = {}
        while command := await self.command():
            verb, name, value = command.rsplit(" ", 2)
            assert verb == "SET VARIABLE", command
            assert value.startswith('"') and value.endswith('"'), command
            found[name] = value[1:-1]
            await self.send("200 result=1\n")
        self.writer.close()
        return found


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
