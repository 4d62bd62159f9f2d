"""`make run` brings the PBX, the controller and the FastAGI fallback up and says how to
call in; a controller killed by a signal comes back by itself while the PBX stays up with
its calls and the fallback serves on, untouched; Ctrl-C leaves nothing behind. Run on its
own ports and container name, beside the test stack."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from hotline.config import load_config
from hotline.pbx.podman import Podman
from hotline.secrets import ensure_secrets
from ivr.scenario import hearing
from ivr.scenario.live import AriAccess, LiveCall, LiveHotline
from ivr.scenario.script import CallSetup
from tests.harness.stack import IN_HOURS

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = "hotline-test-makerun"
STARTED = re.compile(r"controller started \(pid (\d+)\)")
FALLBACK_STARTED = re.compile(r"fallback started \(pid (\d+)\)")
FALLBACK_HEALTH = "http://127.0.0.1:8292/health"


class Output:
    """What `make run` prints (stdout and stderr), read line by line as it comes."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream
        self.seen: list[str] = []

    async def until(self, marker: str | re.Pattern[str]) -> str:
        while line := await self.stream.readline():
            self.seen.append(line.decode(errors="replace").rstrip())
            last = self.seen[-1]
            if marker.search(last) if isinstance(marker, re.Pattern) else marker in last:
                return last
        raise AssertionError(f"make run ended before: {marker}\n" + "\n".join(self.seen[-30:]))

    async def seen_or_until(self, marker: str | re.Pattern[str]) -> str:
        """The line with ``marker``, already read or still to come."""
        for line in self.seen:
            if marker.search(line) if isinstance(marker, re.Pattern) else marker in line:
                return line
        return await self.until(marker)

    def text(self) -> str:
        return "\n".join(self.seen)


async def heard(call: LiveCall, prompt: Path, after_s: float, timeout: float) -> float:
    """Where ``prompt`` begins in what the caller heard after ``after_s`` (deadline-bound)."""
    template = hearing.read_wav(prompt)
    deadline = time.monotonic() + timeout
    while True:
        match = hearing.find(template, await call.heard(), after_s=after_s)
        if match.score >= hearing.MATCH_THRESHOLD:
            return match.offset_s
        assert time.monotonic() < deadline, f"{prompt.name} not heard (best {match.score:.2f})"
        await asyncio.sleep(0.2)


async def test_make_run_survives_a_controller_crash_then_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "MAKE", "MFLAGS"))}
    env.update(
        {
            "HOTLINE_STATE_DIR": str(tmp_path),
            "HOTLINE_PBX_CONTAINER": CONTAINER,
            "HOTLINE_PBX_SIP_PORT": "5260",
            "HOTLINE_ARI_PORT": "8288",
            "HOTLINE_PBX_RTP_START": "24000",
            "HOTLINE_PBX_RTP_END": "24099",
            "HOTLINE_HTTP_PORT": "8290",
            "HOTLINE_FALLBACK_PORT": "4575",
            "HOTLINE_FALLBACK_HTTP_PORT": "8292",
            "HOTLINE_MENU_CLOCK": IN_HOURS,  # the main menu, whatever the time of the run
        }
    )
    proc = await asyncio.create_subprocess_exec(
        "make",
        "--no-print-directory",
        "run",
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    out = Output(proc.stdout)
    podman = Podman(os.environ)
    try:
        async with asyncio.timeout(300):
            first = STARTED.search(await out.until(STARTED))
            await out.until("the hotline is up")
            await out.until("Ctrl-C stops")
            fallback = FALLBACK_STARTED.search(await out.seen_or_until(FALLBACK_STARTED))
            await out.seen_or_until("fallback serving FastAGI on 127.0.0.1:4575")
        assert first is not None and fallback is not None
        assert "INVITE sip:4008001234@127.0.0.1:5260" in out.text()
        assert await podman.container_state(CONTAINER) == "running"
        async with aiohttp.ClientSession() as http:
            async with http.get("http://127.0.0.1:8290/health") as resp:
                assert resp.status == 200
                assert (await resp.json())["ari"]["connected"] is True
            async with http.get(FALLBACK_HEALTH) as resp:
                assert resp.status == 200
                assert (await resp.json())["agi"]["listening"] is True

        # A caller in the menu while the controller is killed: it comes back by itself
        # (a new process), the PBX and the call stay, and the caller is served on.
        config = load_config(None, env)
        ari = AriAccess(
            config.ari_url, config.ari.username, ensure_secrets(tmp_path).ari_password, "hotline"
        )
        prompts = config.prompts_dir / "zh"
        setup = CallSetup(to="4008001234", caller="13700138201", language="zh")
        async with (
            LiveHotline(ari, config.db_url, config.recordings_dir) as hotline,
            hotline.call(setup, answer_timeout=10) as call,
        ):
            await heard(call, prompts / "main-menu.wav", 0, 25)
            killed_at = len(await call.heard()) / hearing.RATE
            os.kill(int(first.group(1)), signal.SIGKILL)
            async with asyncio.timeout(30):
                await out.until("was killed by SIGKILL; starting it again")
                again = STARTED.search(await out.until(STARTED))
                await out.until(" back in ")
            assert again is not None and again.group(1) != first.group(1)
            assert await podman.container_state(CONTAINER) == "running"
            assert not await call.hung_up()
            # The new controller picks the call up where it was: the menu again.
            menu = await heard(call, prompts / "main-menu.wav", killed_at, 25)
            await call.press("2")
            await heard(call, prompts / "repair-menu.wav", menu, 15)

        # The fallback's keeper is its own: the same process served throughout.
        assert FALLBACK_STARTED.findall(out.text()) == [fallback.group(1)]
        os.kill(int(fallback.group(1)), 0)
        async with aiohttp.ClientSession() as http, http.get(FALLBACK_HEALTH) as resp:
            assert resp.status == 200

        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        async with asyncio.timeout(60):
            rest = await proc.stdout.read()
            await proc.wait()
        out.seen += rest.decode(errors="replace").splitlines()
        assert "Traceback" not in out.text()
        assert "fallback stopped" in out.text()
        with pytest.raises(ProcessLookupError):
            os.kill(int(fallback.group(1)), 0)
        assert await podman.container_state(CONTAINER) == ""
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        await podman.remove(CONTAINER)
