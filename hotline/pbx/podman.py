"""Podman, invoked with the project's own containers.conf and the runc runtime.

These machines have hybrid cgroups and may not raise rlimits inside containers, so podman
is always run with ``CONTAINERS_CONF`` pointing at our file (cgroupfs, no default ulimits).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hotline.errors import SetupError

CONTAINERS_CONF = Path(__file__).with_name("containers.conf")


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


class Podman:
    def __init__(self, environ: Mapping[str, str]) -> None:
        exe = shutil.which("podman", path=environ.get("PATH"))
        if exe is None:
            raise SetupError(
                "podman is not installed (or not on PATH): run 'make run' as root to install "
                "it, or 'apt-get install podman runc'."
            )
        self.exe = exe
        self.env = {**environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}

    def argv(self, *args: str) -> list[str]:
        return [self.exe, "--runtime", "runc", *args]

    async def run(self, *args: str, check: bool = True, stdin: bytes | None = None) -> Result:
        proc = await asyncio.create_subprocess_exec(
            *self.argv(*args),
            env=self.env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(stdin)
        result = Result(
            proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
        )
        if check and result.code != 0:
            raise SetupError(
                f"podman {' '.join(args[:2])} failed: {result.err.strip() or result.out.strip()}"
            )
        return result

    async def container_state(self, name: str) -> str:
        """'running', 'exited', ... or '' when there is no such container."""
        res = await self.run(
            "container", "inspect", "--format", "{{.State.Status}}", name, check=False
        )
        return res.out.strip() if res.code == 0 else ""

    async def image_label(self, image: str, label: str) -> str | None:
        """The label's value, '' if the image lacks it, None if the image is absent."""
        fmt = '{{ index .Labels "' + label + '" }}'
        res = await self.run("image", "inspect", "--format", fmt, image, check=False)
        if res.code != 0:
            return None
        value = res.out.strip()
        return "" if value == "<no value>" else value

    async def remove(self, name: str, timeout: int = 5) -> None:
        await self.run("rm", "--force", "--time", str(timeout), name, check=False)

    def exec_argv(self, name: str, command: Sequence[str], tty: bool) -> list[str]:
        return self.argv("exec", *(["-it"] if tty else []), name, *command)
