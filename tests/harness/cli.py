"""Running the real `hotline` command from tests, as an admin would."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def hotline(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hotline",
        *args,
        cwd=ROOT,
        env={**base, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(timeout):
        out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()
