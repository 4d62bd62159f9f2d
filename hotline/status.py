"""``hotline status``: which layer serves callers now, and each process's health.

Three layers, each there when the one above is not: the controller (``hotline serve``,
every feature), the FastAGI fallback (``hotline fallback``: the fallback dialplan with the
answers that need data) and the static dialplan (the PBX alone: the fallback menu and the
apology, with no data). The controller counts as serving when its /health answers at all,
as the watchman counts it: a 503 (ARI down) is a controller reconnecting by itself, whose
calls are still its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Mapping
from typing import Any

from hotline.commands import Subparsers
from hotline.config import Config
from hotline.pbx.podman import Podman
from hotline.watchman import HealthProbe, health_url, local_url

CONTROLLER = "controller"
FALLBACK = "fallback (FastAGI)"
STATIC = "static dialplan"
NOTHING = "nothing (the PBX is not running)"


def serving_layer(
    controller: Mapping[str, Any] | None, fallback: Mapping[str, Any] | None, pbx: str
) -> str:
    """The layer that serves a caller now, from the controller's and the fallback's
    /health bodies (None: no answer) and the PBX container's state."""
    if pbx != "running":
        return NOTHING
    if controller is not None:
        return CONTROLLER
    if fallback is not None and (fallback.get("agi") or {}).get("listening"):
        return FALLBACK
    return STATIC


def fallback_health_url(config: Config) -> str:
    return local_url(config.fallback.host, config.fallback.http_port, "/health")


def controller_summary(health: Mapping[str, Any] | None) -> str:
    if health is None:
        return "not answering"
    ari = "ARI connected" if (health.get("ari") or {}).get("connected") else "ARI down"
    reasons = "; ".join(str(r) for r in health.get("reasons") or [])
    calls = health.get("calls", 0)
    summary = f"{health.get('status', '?')}, {ari}, {calls} calls"
    return f"{summary} ({reasons})" if reasons else summary


def fallback_summary(health: Mapping[str, Any] | None) -> str:
    if health is None:
        return "not answering"
    agi = health.get("agi") or {}
    database = health.get("database") or {}
    listening = "listening" if agi.get("listening") else "not listening"
    db = "database ok" if database.get("ok") else f"database: {database.get('error', '?')}"
    return (
        f"{health.get('status', '?')}, FastAGI {agi.get('address', '?')} {listening}, "
        f"{agi.get('connections', 0)} connections, {agi.get('served', 0)} served, {db}"
    )


async def gather_status(config: Config, podman: Podman) -> dict[str, Any]:
    """Everything ``hotline status`` shows, as its ``--json`` prints it."""
    probes = [HealthProbe(health_url(config)), HealthProbe(fallback_health_url(config))]
    try:
        controller, fallback, pbx = await asyncio.gather(
            probes[0](), probes[1](), podman.container_state(config.pbx.container)
        )
    finally:
        for probe in probes:
            await probe.close()
    pbx = pbx or "absent"
    return {
        "serving": serving_layer(controller, fallback, pbx),
        "pbx": {"container": config.pbx.container, "state": pbx},
        "controller": {"url": probes[0].url, "health": controller},
        "fallback": {"url": probes[1].url, "health": fallback},
    }


def render(status: Mapping[str, Any]) -> str:
    pbx, controller, fallback = status["pbx"], status["controller"], status["fallback"]
    return "\n".join(
        [
            f"serving:    {status['serving']}",
            f"PBX:        {pbx['container']} {pbx['state']}",
            f"controller: {controller_summary(controller['health'])}  ({controller['url']})",
            f"fallback:   {fallback_summary(fallback['health'])}  ({fallback['url']})",
        ]
    )


def add_commands(sub: Subparsers) -> None:
    status = sub.add_parser(
        "status",
        help="which layer serves callers (controller, FastAGI fallback, static dialplan)",
        description="Exit code 0 when the controller serves, 1 otherwise.",
    )
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(handler=cmd_status)


def cmd_status(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    status = asyncio.run(gather_status(config, Podman(environ)))
    print(json.dumps(status, indent=2) if args.json else render(status))
    return 0 if status["serving"] == CONTROLLER else 1
