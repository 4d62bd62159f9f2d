"""Asterisk's side of FastAGI connections, for the tests of the FastAGI server and of the
fallback's requests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

DEADLINE = 5.0  # seconds for any one step of a test; the server answers in milliseconds


class Asterisk:
    """Asterisk's side of one FastAGI connection; ``opened`` keeps every one to close."""

    opened: list[asyncio.StreamWriter] = []

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def call(
        cls, port: int, request: str, caller: str, args: tuple[str, ...] = ()
    ) -> Asterisk:
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
            **{f"agi_arg_{n}": arg for n, arg in enumerate(args, start=1)},
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


@pytest.fixture(autouse=True)
async def close_connections() -> AsyncIterator[None]:
    """Every connection a test opened is closed after it."""
    yield
    while Asterisk.opened:
        writer = Asterisk.opened.pop()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
