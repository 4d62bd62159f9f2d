"""The composition root: the one place that builds and wires every part, and the only
module of the core (``hotline/``) that imports features.

Nothing below this module reads the environment, opens a database or creates an ARI
client on its own; each part receives what it needs through its constructor. Features
plug in through their ``install`` (``hotline.wiring``), in the order of ``FEATURES``:
a feature comes after the ones whose services it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

import acd.install
import ivr.install
import prompts.install
import recordings.install
import reports.install
from acd.loader import load_acd
from dialplan.compile import DialplanError, compile_fallback
from dialplan.service import serve_fallback
from hotline.ari.errors import ApplicationReplaced, AriError
from hotline.ari.events import EventStream
from hotline.ari.rest import AriRest
from hotline.calls.registry import CallRegistry
from hotline.calls.store import CallStore
from hotline.commands import Subparsers
from hotline.config import Config
from hotline.db import create_schema, make_engine
from hotline.errors import SetupError
from hotline.exposure import ari_http_address, ari_tls
from hotline.http import AccessLog, make_http_app
from hotline.outbound import OutboundPolicy
from hotline.pbx.guard import BLOCKED_INCLUDE, SipGuard
from hotline.pbx.instance import (
    PROMPTS_IN_CONTAINER,
    InstanceSpec,
    TlsListener,
    host_port,
    write_includes,
)
from hotline.secrets import Secrets, phone_passwords
from hotline.services import OUTBOUND
from hotline.supervisor import Supervisor
from hotline.wiring import BackgroundTask, Feature, PbxControl, Wiring
from hotline.writes import DbHealth, WriteBehind
from ivr.loader import load_menu
from ivr.model import Menu

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[1]
ASTERISK_CONF = PROJECT_DIR / "asterisk-conf"

FEATURES: tuple[Feature, ...] = (
    prompts.install.FEATURE,
    acd.install.FEATURE,
    recordings.install.FEATURE,
    ivr.install.FEATURE,
    reports.install.FEATURE,
)


def command_sets() -> tuple[Callable[[Subparsers], None], ...]:
    """Every feature's commands, for the ``hotline`` command."""
    return tuple(feature.commands for feature in FEATURES)


def prepare_pbx(config: Config) -> None:
    """What features need done before the PBX starts (the prompts it plays)."""
    for feature in FEATURES:
        feature.before_pbx_up(config)


def pbx_spec(
    config: Config, secrets: Secrets, numbers: Sequence[str] | None = None
) -> InstanceSpec:
    """The PBX container as configured. The numbers it accepts from the carrier are the
    menu's (read from the menu file unless given); the fallback menu is compiled from it."""
    pbx = config.pbx
    menu = load_menu(config.menu.file)
    if numbers is None:
        numbers = list(menu.numbers)
    agents = load_acd(config.acd.file).agents.values()
    extensions = sorted({desk for agent in agents for desk in agent.desks})  # own and listed
    return InstanceSpec(
        container=pbx.container,
        image=pbx.image,
        conf_dir=ASTERISK_CONF,
        state_dir=config.pbx_dir,
        bind_address=pbx.bind_address,
        sip_port=pbx.sip_port,
        ari_port=config.ari.port,
        ari_bind_address=ari_http_address(config.ari),
        ari_tls=_ari_tls(config),
        rtp_start=pbx.rtp_start,
        rtp_end=pbx.rtp_end,
        ari_user=config.ari.username,
        ari_password=secrets.ari_password,
        trunk_name="carrier",
        trunk_match=pbx.carrier_match,
        trunk_contact=pbx.carrier_contact,
        app=config.ari.app,
        numbers=tuple(numbers),
        phones=phone_passwords(config.state_dir, extensions),
        max_call_seconds=pbx.max_call_seconds,
        fallback_menu=_fallback_menu(menu, config.menu.message_silence),
        fallback_agi=f"agi://{host_port(_local(config.fallback.host), config.fallback.port)}",
        all_phones="&".join(
            pbx.agent_dial.format(target=a.extension) for a in agents if a.extension
        ),
        extra_mounts={config.prompts_dir: PROMPTS_IN_CONTAINER},
    )


def _local(host: str) -> str:
    """Where the PBX (on this host's network) reaches a service listening on ``host``."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def _fallback_menu(menu: Menu, message_silence: int) -> str:
    """The menu in dialplan; a menu the compiler refuses leaves the PBX without one (and
    says why in the file and the log) rather than stopping the hotline."""
    try:
        return compile_fallback(menu, message_silence)
    except DialplanError as exc:
        log.warning("no fallback menu: %s", exc)
        return f"; no fallback menu: {' '.join(str(exc).split())}\n"


async def run_fallback(
    config: Config, stop: asyncio.Event, on_listening: Callable[[str, str], None]
) -> None:
    """``hotline fallback``: the FastAGI fallback until ``stop`` (``dialplan.service``);
    ``on_listening(agi_address, http_address)`` once it serves."""
    await serve_fallback(config, stop, on_listening)


def provide_services(wiring: Wiring) -> None:
    """The core's services, which features need at install."""
    wiring.provide(OUTBOUND, OutboundPolicy.from_config(wiring.config))


def _ari_tls(config: Config) -> TlsListener | None:
    ari = config.ari
    tls = ari_tls(ari)
    return TlsListener(ari.bind_address, ari.tls_port, ari.tls_cert, ari.tls_key) if tls else None


class Controller:
    """The running service: ARI event stream, call registry, the features, HTTP."""

    def __init__(self, config: Config, secrets: Secrets) -> None:
        self.config = config
        self.secrets = secrets

    async def run(
        self,
        stop: asyncio.Event,
        keep_calls: bool = False,
        on_ready: Callable[[], None] = lambda: None,
    ) -> None:
        config = self.config
        engine = make_engine(config.db_url)
        ari = AriRest(config.ari_url, config.ari.username, self.secrets.ari_password)
        # Calls' writes are queued and committed by one task, so a busy database
        # (hotline.writes) stalls no call; /health and /metrics show it.
        db_health = DbHealth()
        writes = WriteBehind(engine, db_health)
        wiring = Wiring(
            config=config,
            secrets=self.secrets,
            engine=engine,
            ari=ari,
            calls=CallStore(engine, writes),
            writes=writes,
            pbx=PbxControl(menu_changed=lambda numbers: self._menu_changed(ari, numbers)),
        )
        registry = CallRegistry(
            ari, config.ari.app, wiring.calls, wiring.run_call, on_closed=wiring.closed
        )
        wiring.registry = registry
        provide_services(wiring)
        for feature in FEATURES:
            feature.install(wiring)
        self._guard_sip(wiring)

        async def on_connected() -> None:
            await registry.reconcile()
            if stream.status.connects == 1:
                on_ready()  # the hotline answers calls from now on

        stream = EventStream(
            config.ari_url,
            config.ari.app,
            config.ari.username,
            self.secrets.ari_password,
            on_event=registry.on_event,
            on_connected=on_connected,
            heartbeat=config.ari.heartbeat,
            max_delay=config.ari.reconnect_max_delay,
            echo_every=config.ari.echo_every,
        )
        # Every long-running task has one owner: a task that raises is logged, counted
        # and restarted; only the event stream losing the app to another controller
        # (ApplicationReplaced) ends the service.
        supervisor = Supervisor()
        supervisor.add("ari-events", stream.run, critical=True, fatal=(ApplicationReplaced,))
        for task in wiring.tasks:
            supervisor.add(task.name, task.run)
        wiring.metrics += [supervisor.metrics_lines, db_health.metrics_lines]
        runner = web.AppRunner(
            make_http_app(
                lambda: self._health(wiring, stream, registry, supervisor, db_health),
                self.secrets.admin_token,
                wiring.routes,
                wiring.openapi,
            ),
            access_log_class=AccessLog,
        )
        try:
            await create_schema(engine)
            writes.start()
            for step in wiring.startup:
                await step()
            await runner.setup()
            await self._listen(runner)
            async with supervisor:  # leaving cancels every task (bounded: close_timeout)
                try:
                    await supervisor.wait(stop)
                except ApplicationReplaced:
                    raise SetupError(
                        f"another controller took over the ARI application '{config.ari.app}'; "
                        "this one stops rather than fight over it"
                    ) from None
        finally:
            with contextlib.suppress(TimeoutError):
                await registry.aclose(hand_over=not keep_calls)
            await writes.aclose()
            await runner.cleanup()
            await ari.close()
            await engine.dispose()

    def _guard_sip(self, wiring: Wiring) -> None:
        """Sources failing SIP authentication repeatedly are blocked (the PBX's security
        log and its pjsip acl include, both in the PBX's state folder)."""
        pbx_dir = self.config.pbx_dir
        guard = SipGuard(
            self.config.security,
            self.config.pbx.carrier_match,
            security_log_file=pbx_dir / "log" / "security.log",
            blocked_file=pbx_dir / "etc" / BLOCKED_INCLUDE,
            pbx=wiring.ari,
        )
        wiring.tasks.append(BackgroundTask("sip-guard", guard.run))
        wiring.health["sip_guard"] = guard.health
        wiring.metrics.append(guard.metrics_lines)

    async def _menu_changed(self, ari: AriRest, numbers: Sequence[str]) -> None:
        """A menu reload: the PBX's carrier context takes the menu's hotline numbers and
        the fallback menu is compiled again (from the file just loaded)."""
        write_includes(pbx_spec(self.config, self.secrets, list(numbers)))
        try:
            await ari.reload_module("pbx_config.so")
            log.info("dialplan rewritten; the PBX accepts %s", ", ".join(numbers))
        except AriError as exc:
            log.error("the menu changed but the dialplan reload failed: %s", exc.message)

    async def _listen(self, runner: web.AppRunner) -> None:
        http = self.config.http
        try:
            await web.TCPSite(runner, http.host, http.port).start()
        except OSError:
            raise SetupError(
                f"port {http.port}/tcp on {http.host} (controller HTTP) is already in use; "
                "stop the other program or set http.port"
            ) from None

    @staticmethod
    def _health(
        wiring: Wiring,
        stream: EventStream,
        registry: CallRegistry,
        supervisor: Supervisor,
        db: DbHealth,
    ) -> dict[str, Any]:
        tasks = supervisor.health()
        status = "degraded" if db.degraded else tasks["status"]
        # An unexpected error out of stream.run() leaves status.connected as it was; while
        # the supervisor restarts the stream, it is not connected whatever that says.
        connected = stream.status.connected and tasks["tasks"]["ari-events"]["state"] == "running"
        return {
            # 503 (hotline.http) only when ARI is down; a failing task is "degraded", 200.
            "status": status if connected else "down",
            "reasons": [r for r in (db.reason(),) if r]
            + [f"task {n}: {t['last_error']}" for n, t in tasks["tasks"].items() if t["degraded"]],
            **{name: section() for name, section in wiring.health.items()},
            "ari": {
                "connected": connected,
                "connects": stream.status.connects,
                "last_error": stream.status.last_error,
                "echoes_heard": stream.status.echoes_heard,
                "echoes_lost": stream.status.echoes_lost,
            },
            "calls": len(registry.calls),
            "database": db.section(),
            "tasks": tasks["tasks"],
        }
