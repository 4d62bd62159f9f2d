"""The test stack: a PBX and a tester Asterisk in containers, and the controller process.

Everything uses its own container names and ports, so the suite runs beside a live
``make run``. The controller reaches ARI through a TCP proxy that the tests can cut.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from hotline.app import ASTERISK_CONF, pbx_spec
from hotline.config import DEFAULT_MENU, Config, load_config
from hotline.pbx.instance import Instance, InstanceSpec
from hotline.pbx.podman import Podman
from hotline.secrets import ensure_secrets, keep_files_private
from tests.harness.proxy import TcpProxy
from tests.harness.tester import MEDIA_IN_CONTAINER

TESTER_CONF = Path(__file__).resolve().parents[1] / "tester"
TEST_ACD = TESTER_CONF / "acd.yaml"  # the agents are the tester's phones


@dataclass(frozen=True)
class Ports:
    pbx_sip: int = 5160
    pbx_ari: int = 8188
    pbx_rtp: int = 22000
    tester_sip: int = 5170
    tester_ari: int = 8189
    tester_rtp: int = 23000
    controller_http: int = 8190
    ari_proxy: int = 8191
    # The FastAGI fallback: its own ports, beside a `make run` on the defaults (4573, 8082).
    fallback_agi: int = 4574
    fallback_http: int = 8192


# The menu's clock in tests: a Tuesday within business hours, not a holiday, whatever
# the time the suite runs; tests of hours and holidays start a controller at other times.
IN_HOURS = "2026-11-24T10:00"


def controller_settings(state: Path, ports: Ports) -> dict[str, object]:
    return {
        "state_dir": str(state),
        "pbx": {
            "container": "hotline-test-pbx",
            "sip_port": ports.pbx_sip,
            "rtp_start": ports.pbx_rtp,
            "rtp_end": ports.pbx_rtp + 999,
            "carrier_contact": f"sip:127.0.0.1:{ports.tester_sip}",
            # Agents' phones and outside numbers are all on the tester, over the trunk.
            "agent_dial": "PJSIP/{target}@carrier",
        },
        "menu": {"file": str(state / "menu.yaml"), "clock": IN_HOURS},
        "acd": {"file": str(state / "acd.yaml")},
        "ari": {
            "port": ports.pbx_ari,
            "url": f"http://127.0.0.1:{ports.ari_proxy}",
            "heartbeat": 2.0,
            "echo_every": 5.0,
            "reconnect_max_delay": 2.0,
        },
        "http": {"port": ports.controller_http},
        "fallback": {"port": ports.fallback_agi, "http_port": ports.fallback_http},
        # A caller who does not answer the survey is not kept long; a recording that
        # could not be stored is tried again soon.
        "survey": {"timeout": 3.0},
        "recordings": {"retry_seconds": 2.0},
        # A source that fails SIP authentication is blocked soon, and not for long.
        "security": {"max_auth_failures": 6, "failure_window_seconds": 30, "block_seconds": 8},
    }


def tester_spec(state: Path, ports: Ports, password: str) -> InstanceSpec:
    return InstanceSpec(
        container="hotline-test-tester",
        image="localhost/hotline-asterisk:22",
        conf_dir=ASTERISK_CONF,
        state_dir=state / "tester",
        bind_address="127.0.0.1",
        sip_port=ports.tester_sip,
        ari_port=ports.tester_ari,
        ari_bind_address="127.0.0.1",
        rtp_start=ports.tester_rtp,
        rtp_end=ports.tester_rtp + 999,
        ari_user="tester",
        ari_password=password,
        trunk_name="pbx",
        trunk_match="127.0.0.1",
        trunk_contact=f"sip:127.0.0.1:{ports.pbx_sip}",
        app="harness",
        conf_overrides={
            "pjsip.conf": TESTER_CONF / "pjsip.conf",
            "extensions.conf": TESTER_CONF / "extensions.conf",
        },
        extra_mounts={state / "tester-media": MEDIA_IN_CONTAINER},
    )


class ControllerProcess:
    """``hotline serve`` as a child process, the way it runs in production."""

    def __init__(self, config_file: Path, config: Config, log_file: Path) -> None:
        self.config_file = config_file
        self.config = config
        self.log_file = log_file
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def health_url(self) -> str:
        return f"http://{self.config.http.host}:{self.config.http.port}/health"

    async def start(self, **settings: str) -> None:
        """Start ``hotline serve``; ``settings`` are extra environment variables
        (HOTLINE_<SECTION>_<KEY>) on top of the stack's config file."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update(settings)
        with self.log_file.open("ab") as log:  # the child keeps its own copy
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "hotline",
                "--config",
                str(self.config_file),
                "serve",
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
            )
        await self.wait_health(lambda h: h["ari"]["connected"], 20)

    async def health(self) -> dict[str, Any] | None:
        try:
            async with aiohttp.ClientSession() as http, http.get(self.health_url) as resp:
                data: dict[str, Any] = await resp.json()
                return data
        except aiohttp.ClientError:
            return None

    async def wait_health(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict[str, Any]:
        """Poll /health until ``predicate`` holds (deadline-bound)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.returncode is not None:
                raise AssertionError(
                    f"controller exited ({self.proc.returncode}):\n{self.log_tail()}"
                )
            health = await self.health()
            if health is not None and predicate(health):
                return health
            await asyncio.sleep(0.1)
        raise AssertionError(f"controller health not reached in {timeout} s:\n{self.log_tail()}")

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(10):
                await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class WatchmanProcess:
    """``hotline watch`` beside the controller, as ``hotline run`` runs its watchman. It
    reaches ARI directly, not through the proxy the tests cut."""

    def __init__(self, config_file: Path, ari_url: str, log_file: Path) -> None:
        self.config_file = config_file
        self.ari_url = ari_url
        self.log_file = log_file
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, **settings: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update({"HOTLINE_ARI_URL": self.ari_url, **settings})
        with self.log_file.open("ab") as log:
            start = log.tell()
            self.proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "hotline", "--config", str(self.config_file), "watch"),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 20
        while b"watching the controller" not in self.log_file.read_bytes()[start:]:
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"hotline watch did not start: {self.log_file}")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                await proc.wait()


class FallbackProcess:
    """``hotline fallback`` beside the controller, as ``hotline run`` runs it: the FastAGI
    answers of the fallback dialplan while the controller is away."""

    READY = b"fallback serving FastAGI on"

    def __init__(self, config_file: Path, config: Config, log_file: Path) -> None:
        self.config_file = config_file
        self.config = config
        self.log_file = log_file
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def health_url(self) -> str:
        return f"http://{self.config.fallback.host}:{self.config.fallback.http_port}/health"

    async def start(self, **settings: str) -> None:
        """Start ``hotline fallback`` and wait for its line saying it serves; ``settings``
        are extra environment variables (HOTLINE_<SECTION>_<KEY>)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
        env.update(settings)
        with self.log_file.open("ab") as log:
            start = log.tell()
            self.proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "hotline", "--config", str(self.config_file), "fallback"),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 20
        while self.READY not in self.log_file.read_bytes()[start:]:
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(f"hotline fallback did not start: {self.log_file}")
            await asyncio.sleep(0.1)

    async def health(self) -> dict[str, Any] | None:
        try:
            async with aiohttp.ClientSession() as http, http.get(self.health_url) as resp:
                data: dict[str, Any] = await resp.json()
                return data
        except aiohttp.ClientError:
            return None

    async def stop(self) -> None:
        """SIGTERM, and SIGKILL if it has not stopped in 10 s (its stop takes ~ms)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def kill(self) -> None:
        """SIGKILL: the fallback gone without a word, as in a crash."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()


class Stack:
    def __init__(self, state: Path, ports: Ports = Ports()) -> None:
        self.state = state
        self.ports = ports
        self.podman = Podman(os.environ)
        keep_files_private()  # as the hotline command does at its entry, before any write
        settings = controller_settings(state, ports)
        self.config_file = state / "hotline.yaml"
        state.mkdir(parents=True, exist_ok=True)
        self.menu_file = state / "menu.yaml"  # the admins' copy, edited by reload tests
        shutil.copyfile(DEFAULT_MENU, self.menu_file)
        self.acd_file = state / "acd.yaml"
        shutil.copyfile(TEST_ACD, self.acd_file)
        self.config_file.write_text(yaml.safe_dump(settings), encoding="utf-8")
        self.config = load_config(self.config_file, {})
        self.secrets = ensure_secrets(state)
        self.pbx = Instance(pbx_spec(self.config, self.secrets), self.podman, _quiet)
        tester_password = json.loads((state / "secrets.json").read_text())["ari_password"][::-1]
        (state / "tester-media").mkdir(exist_ok=True)
        self.tester_spec = tester_spec(state, ports, tester_password)
        self.tester = Instance(self.tester_spec, self.podman, _quiet)
        self.proxy = TcpProxy("127.0.0.1", ports.ari_proxy, "127.0.0.1", ports.pbx_ari)
        self.controller = ControllerProcess(self.config_file, self.config, state / "controller.log")
        self.fallback = FallbackProcess(self.config_file, self.config, state / "fallback.log")
        self.watchman = WatchmanProcess(
            self.config_file, self.pbx.spec.ari_url, state / "watchman.log"
        )

    def prompt(self, prompt_id: str, lang: str = "zh") -> Path:
        """The prompt's own 8 kHz audio, what the caller should hear."""
        return self.config.prompts_dir / lang / f"{prompt_id}.wav"

    async def up(self) -> None:
        from prompts.build import build, load_catalogue

        build(self.config.prompts_dir, load_catalogue({"name_zh": "XX", "name_en": "XX"}), _quiet)
        # Containers left by an interrupted run carry other generated passwords.
        for spec in (self.pbx.spec, self.tester_spec):
            await self.podman.remove(spec.container)
        await asyncio.gather(self.pbx.up(), self.tester.up())
        await self.proxy.start()
        await self.controller.start()
        await self.fallback.start()
        await self.watchman.start()

    async def down(self) -> None:
        await self.watchman.stop()
        await self.controller.stop()
        # After the controller: callers it hands over on its way out still find FastAGI.
        await self.fallback.stop()
        await self.proxy.stop()
        # Both Asterisks' logs stay beside the controller's, for a failure found after the run.
        for name, spec in (("pbx", self.pbx.spec), ("tester", self.tester_spec)):
            log = f"{spec.container}:/var/log/asterisk/messages.log"
            await self.podman.run("cp", log, str(self.state / f"{name}-messages.log"), check=False)
        await asyncio.gather(self.pbx.down(), self.tester.down())


def _quiet(_message: str) -> None:
    pass
