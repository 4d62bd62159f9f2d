"""The composition root: the one place that builds and wires every part.

Nothing below this module reads the environment, opens a database or creates an ARI
client on its own; each part receives what it needs through its constructor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from hotline.ari.errors import ApplicationReplaced
from hotline.ari.events import EventStream
from hotline.ari.rest import AriRest
from hotline.calls.registry import CallRegistry
from hotline.calls.session import CallChannel
from hotline.calls.store import CallStore
from hotline.config import Config
from hotline.db import create_schema, make_engine
from hotline.errors import SetupError
from hotline.http import make_http_app
from hotline.pbx.instance import PROMPTS_IN_CONTAINER, InstanceSpec
from hotline.secrets import Secrets
from ivr.blacklist import Blacklist
from ivr.flow import CallFlow, CallState, MenuTiming

log = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parents[1]
ASTERISK_CONF = PROJECT_DIR / "asterisk-conf"


def pbx_spec(config: Config, secrets: Secrets) -> InstanceSpec:
    pbx = config.pbx
    return InstanceSpec(
        container=pbx.container,
        image=pbx.image,
        conf_dir=ASTERISK_CONF,
        state_dir=config.state_dir / "pbx",
        bind_address=pbx.bind_address,
        sip_port=pbx.sip_port,
        ari_port=config.ari.port,
        rtp_start=pbx.rtp_start,
        rtp_end=pbx.rtp_end,
        ari_user=config.ari.username,
        ari_password=secrets.ari_password,
        trunk_name="carrier",
        trunk_match=pbx.carrier_match,
        trunk_contact=pbx.carrier_contact,
        app=config.ari.app,
        numbers=tuple(config.service.numbers),
        max_call_seconds=pbx.max_call_seconds,
        extra_mounts={config.prompts_dir: PROMPTS_IN_CONTAINER},
    )


class Controller:
    """The running service: ARI event stream, call registry, database, HTTP."""

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
        store = CallStore(engine)
        timing = MenuTiming(config.menu.timeout, config.menu.tries)
        blacklist = Blacklist(engine)

        async def run_flow(call_id: str, channel: CallChannel, resume: str | None) -> str:
            flow = CallFlow(call_id, channel, store, timing, blacklist.screen)
            return await flow.run(CallState(resume) if resume else CallState.ANSWERING)

        registry = CallRegistry(ari, config.ari.app, store, run_flow)

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
        )
        runner = web.AppRunner(make_http_app(lambda: self._health(stream, registry)))
        try:
            await create_schema(engine)
            await runner.setup()
            await self._listen(runner)
            stream_task = asyncio.create_task(stream.run(), name="ari-events")
            stop_task = asyncio.create_task(stop.wait(), name="stop")
            try:
                await asyncio.wait({stream_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (stream_task, stop_task):
                    task.cancel()
                await asyncio.wait({stream_task, stop_task})
            failure = None if stream_task.cancelled() else stream_task.exception()
            if isinstance(failure, ApplicationReplaced):
                raise SetupError(
                    f"another controller took over the ARI application '{config.ari.app}'; "
                    "this one stops rather than fight over it"
                )
            if failure is not None:
                raise failure
        finally:
            with contextlib.suppress(TimeoutError):
                await registry.aclose(hand_over=not keep_calls)
            await runner.cleanup()
            await ari.close()
            await engine.dispose()

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
    def _health(stream: EventStream, registry: CallRegistry) -> dict[str, Any]:
        return {
            "ari": {
                "connected": stream.status.connected,
                "connects": stream.status.connects,
                "last_error": stream.status.last_error,
            },
            "calls": len(registry.calls),
        }
