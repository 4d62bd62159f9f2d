"""``hotline fallback`` (dialplan.service): the FastAGI server, its /health and /metrics on
real sockets, spoken to as Asterisk speaks; taken ports; a bounded stop; the command."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from dialplan.service import FallbackService, serve_fallback
from hotline.config import Config, FallbackConfig
from hotline.db import create_schema, make_engine
from hotline.errors import SetupError
from ivr.blacklist import Action, Blacklist

DEADLINE = 5.0  # seconds for any one step; the service answers in milliseconds
ROOT = Path(__file__).resolve().parents[2]


def config_in(state: Path, **fallback: Any) -> Config:
    settings = {"port": 0, "http_port": 0, "request_timeout": 1.0, **fallback}
    return replace(Config(), state_dir=state, fallback=FallbackConfig(**settings))


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[FallbackService]:
    config = config_in(tmp_path)
    engine = make_engine(config.db_url)  # the controller's part: the schema, a listed number
    await create_schema(engine)
    await Blacklist(engine).add("13500135000", False, Action.REFUSE, "abuse")
    await engine.dispose()
    service = FallbackService(config)
    await service.start()
    yield service
    await service.close()


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def get(url: str) -> tuple[int, str]:
    timeout = aiohttp.ClientTimeout(total=DEADLINE)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as resp:
        return resp.status, await resp.text()


async def asterisk_asks(port: int, request: str, caller: str) -> dict[str, str]:
    """One FastAGI exchange as Asterisk has it: the environment, then ``200 result=1`` to
    every command until the service closes; the variables it set."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    env = {"agi_network": "yes", "agi_network_script": request, "agi_callerid": caller}
    writer.write(("".join(f"{k}: {v}\n" for k, v in env.items()) + "\n").encode())
    found = {}
    try:
        async with asyncio.timeout(DEADLINE):
            while command := (await reader.readline()).decode().rstrip("\n"):
                _, name, value = command.rsplit(" ", 2)
                found[name] = value.strip('"')
                writer.write(b"200 result=1\n")
    finally:
        writer.close()
    return found


async def test_health_says_what_listens_and_that_the_database_answers(
    service: FallbackService,
) -> None:
    assert service.agi_port > 0 and service.http_port > 0  # the bound ports, not the 0s
    status, body = await get(f"http://{service.http_address}/health")
    assert status == 200
    assert json.loads(body) == {
        "service": "fallback",
        "status": "ok",
        "agi": {
            "listening": True,
            "address": f"127.0.0.1:{service.agi_port}",
            "connections": 0,
            "served": 0,
        },
        "database": {"ok": True},
        "chores": "running",
    }


async def test_a_request_is_answered_and_counted_in_metrics(service: FallbackService) -> None:
    answers = await asterisk_asks(service.agi_port, "blacklist-check", "13500135000")
    assert answers["HOTLINE_BLACKLISTED"] == "yes"
    assert await asterisk_asks(service.agi_port, "open-sesame", "13500135000") == {}
    status, metrics = await get(f"http://{service.http_address}/metrics")
    assert status == 200
    lines = set(metrics.splitlines())
    requests = "hotline_fallback_agi_requests_total"
    assert f'{requests}{{request="blacklist-check",outcome="answered"}} 1' in lines
    assert f'{requests}{{request="blacklist-check",outcome="timeout"}} 0' in lines
    assert f'{requests}{{request="unknown",outcome="failed"}} 1' in lines  # not its name
    assert "hotline_fallback_agi_connections 0" in lines
    assert "hotline_fallback_agi_up 1" in lines
    assert f"# TYPE {requests} counter" in lines
    health = (await get(f"http://{service.http_address}/health"))[1]
    assert '"served": 1' in health


async def test_health_is_503_once_fastagi_no_longer_listens(service: FallbackService) -> None:
    assert service.agi is not None
    await service.agi.close()
    status, body = await get(f"http://{service.http_address}/health")
    assert status == 503 and '"listening": false' in body


async def test_the_database_away_is_shown_and_fastagi_still_listens(tmp_path: Path) -> None:
    config = replace(config_in(tmp_path), state_dir=tmp_path / "no-such-directory")
    service = FallbackService(config)
    await service.start()
    try:
        status, body = await get(f"http://{service.http_address}/health")
    finally:
        await service.close()
    assert status == 200  # callers are still served: the dialplan goes on without answers
    assert '"status": "degraded"' in body and '"ok": false' in body


@pytest.mark.parametrize("which", ["port", "http_port"])
async def test_a_taken_port_is_a_set_up_error_naming_its_key(
    tmp_path: Path, taken_port: int, which: str
) -> None:
    service = FallbackService(config_in(tmp_path, **{which: taken_port}))
    with pytest.raises(SetupError, match=f"port {taken_port}/tcp .* set fallback.{which}$"):
        await service.start()
    if which == "http_port":  # the FastAGI listener, up by then, was closed again
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", service.agi_port))
    assert service.agi is None or not service.agi.listening


async def test_stop_is_bounded_with_a_stalled_asterisk_connected(tmp_path: Path) -> None:
    service = FallbackService(config_in(tmp_path, request_timeout=60.0))
    await service.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", service.agi_port)
    writer.write(b"agi_network: yes\n")  # and then nothing: a stalled exchange
    assert service.agi is not None
    deadline = time.monotonic() + DEADLINE
    while service.agi.connections == 0:
        assert time.monotonic() < deadline, "the connection never arrived"
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await service.close(grace=1.0)
    assert time.monotonic() - started < 2.5
    async with asyncio.timeout(DEADLINE):
        assert await reader.read() == b""  # the service hung up on it
    writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", service.agi_port)


async def test_serve_fallback_runs_until_stop(tmp_path: Path) -> None:
    stop = asyncio.Event()
    listening: list[tuple[str, str]] = []

    def on_listening(agi: str, http: str) -> None:
        listening.append((agi, http))
        stop.set()

    async with asyncio.timeout(DEADLINE):
        await serve_fallback(config_in(tmp_path), stop, on_listening)
    [(agi, http)] = listening
    assert agi.startswith("127.0.0.1:") and http.startswith("127.0.0.1:")
    with pytest.raises(OSError):  # it stopped listening on the way out
        await asyncio.open_connection(*agi.split(":"))


async def test_the_command_says_where_it_listens_stops_on_sigterm_and_refuses_a_taken_port(
    tmp_path: Path,
) -> None:
    agi, http = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env |= {
        "HOTLINE_STATE_DIR": str(tmp_path),
        "HOTLINE_FALLBACK_PORT": str(agi),
        "HOTLINE_FALLBACK_HTTP_PORT": str(http),
    }
    argv = [sys.executable, "-m", "hotline", "fallback"]
    pipe = asyncio.subprocess.PIPE
    first = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=ROOT, stdout=pipe, stderr=asyncio.subprocess.STDOUT
    )
    assert first.stdout is not None
    try:
        async with asyncio.timeout(20):
            while b"fallback serving FastAGI" not in (line := await first.stdout.readline()):
                assert line, "hotline fallback ended before it served"
        assert f"on 127.0.0.1:{agi} (health: http://127.0.0.1:{http}/health)" in line.decode()
        second = await asyncio.create_subprocess_exec(*argv, env=env, cwd=ROOT, stderr=pipe)
        async with asyncio.timeout(20):
            _, err = await second.communicate()
        assert second.returncode == 2
        assert f"port {agi}/tcp" in err.decode() and "fallback.port" in err.decode()
        first.send_signal(signal.SIGTERM)
        async with asyncio.timeout(DEADLINE):
            rest = await first.stdout.read()
            assert await first.wait() == 0
        assert b"fallback stopped" in rest and b"Traceback" not in rest
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
