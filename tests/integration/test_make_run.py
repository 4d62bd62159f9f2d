"""`make run` brings the PBX and the controller up, says how to call in, and Ctrl-C leaves
nothing behind. Run on its own ports and container name, beside the test stack."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp

from hotline.pbx.podman import Podman

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = "hotline-test-makerun"


async def read_until(stream: asyncio.StreamReader, marker: str, seen: list[str]) -> None:
    while line := await stream.readline():
        seen.append(line.decode(errors="replace").rstrip())
        if marker in seen[-1]:
            return
    raise AssertionError("make run ended before: " + marker + "\n" + "\n".join(seen[-30:]))


async def test_make_run_then_ctrl_c(tmp_path: Path) -> None:
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
    seen: list[str] = []
    podman = Podman(os.environ)
    try:
        async with asyncio.timeout(300):
            await read_until(proc.stdout, "the hotline is up", seen)
            await read_until(proc.stdout, "Ctrl-C stops", seen)
        text = "\n".join(seen)
        assert "INVITE sip:4008001234@127.0.0.1:5260" in text
        assert await podman.container_state(CONTAINER) == "running"
        async with aiohttp.ClientSession() as http:
            async with http.get("http://127.0.0.1:8290/health") as resp:
                assert resp.status == 200
                assert (await resp.json())["ari"]["connected"] is True
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        async with asyncio.timeout(60):
            rest = await proc.stdout.read()
            await proc.wait()
        seen += rest.decode(errors="replace").splitlines()
        assert "Traceback" not in "\n".join(seen)
        assert await podman.container_state(CONTAINER) == ""
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        await podman.remove(CONTAINER)
