"""The ``hotline`` command. The environment is read here, once, and nowhere deeper."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from hotline import status
from hotline.app import (
    ASTERISK_CONF,
    Controller,
    command_sets,
    pbx_spec,
    prepare_pbx,
    run_fallback,
)
from hotline.commands import Subparsers, say
from hotline.config import Config, load_config
from hotline.errors import HotlineError
from hotline.keeper import Keeper, RestartPolicy
from hotline.pbx.image import ensure_image
from hotline.pbx.instance import Instance
from hotline.pbx.podman import Podman
from hotline.secrets import ensure_secrets, keep_files_private
from hotline.watchman import HealthProbe, health_url, open_watchman


def main(argv: Sequence[str] | None = None) -> int:
    keep_files_private()  # before anything is written: no file is ever made readable to others
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    environ = dict(os.environ)
    try:
        config = load_config(_config_path(args, environ), environ)
        result: int = args.handler(args, config, environ)
        return result
    except HotlineError as exc:
        print(f"hotline: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _config_path(args: argparse.Namespace, environ: Mapping[str, str]) -> Path | None:
    if args.config:
        return Path(args.config)
    if environ.get("HOTLINE_CONFIG"):
        return Path(environ["HOTLINE_CONFIG"])
    default = Path("hotline.yaml")
    return default if default.exists() else None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description=__doc__)
    parser.add_argument("--config", help="YAML configuration file (default: ./hotline.yaml)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    # `hotline --help` lists commands in the order they are added: the PBX's first, the
    # features' next (in the composition root's order), `config` last.
    _add_pbx_commands(sub)
    for add_commands in command_sets():
        add_commands(sub)
    status.add_commands(sub)
    check = sub.add_parser("config", help="show the effective configuration")
    check.add_argument("action", choices=["check"])
    check.set_defaults(handler=cmd_config)
    return parser


def _add_pbx_commands(sub: Subparsers) -> None:
    run = sub.add_parser(
        "run",
        help="start the PBX, the controller and the FastAGI fallback (each started again if "
        "it dies); Ctrl-C stops them all",
    )
    run.set_defaults(handler=cmd_run)

    watch = sub.add_parser(
        "watch",
        help="hand callers to the fallback when the controller is gone (hotline run does this)",
    )
    watch.set_defaults(handler=cmd_watch)

    serve = sub.add_parser("serve", help="run the controller against a running PBX")
    serve.add_argument(
        "--keep-calls",
        action="store_true",
        help="on stop, leave live calls for the next controller to resume",
    )
    serve.set_defaults(handler=cmd_serve)

    fallback = sub.add_parser(
        "fallback",
        help="answer the fallback dialplan's FastAGI requests (hotline run does this)",
    )
    fallback.set_defaults(handler=cmd_fallback)

    pbx = sub.add_parser("pbx", help="the PBX container")
    pbx.add_argument("action", choices=["up", "down", "status", "logs", "cli", "image"])
    pbx.add_argument("-x", "--execute", default="", help="with cli: run one CLI command")
    pbx.set_defaults(handler=cmd_pbx)


# --- commands -------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    secrets = ensure_secrets(config.state_dir)
    asyncio.run(_serve(Controller(config, secrets), keep_calls=args.keep_calls))
    return 0


def cmd_run(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    """The PBX, and two child processes each kept by its own ``hotline.keeper``: the
    controller (``hotline serve``) and the FastAGI fallback (``hotline fallback``), with
    the watchman beside them; the PBX stays up until we stop. The controller's end ends
    ``hotline run``; the fallback's does not (the controller serves on)."""
    secrets = ensure_secrets(config.state_dir)
    instance = Instance(pbx_spec(config, secrets), Podman(environ), say)
    settings = config.watchman

    async def run() -> int:
        prepare_pbx(config)
        probe = HealthProbe(health_url(config))
        keeper = Keeper(
            _child_argv(args, "serve"),
            environ,
            probe,
            RestartPolicy(settings.restarts, settings.restart_window),
        )
        fallback_probe = HealthProbe(status.fallback_health_url(config))
        fallback = Keeper(
            _child_argv(args, "fallback"),
            environ,
            fallback_probe,
            RestartPolicy(settings.restarts, settings.restart_window),
            name="fallback",
            ready=lambda health: bool((health.get("agi") or {}).get("listening")),
        )
        stop = asyncio.Event()
        # Ctrl-C (the children, in our process group, get it too) or SIGTERM: the
        # controller and the fallback stop gracefully first, then the PBX is removed.
        with _stop_on_signals(stop):
            try:
                await instance.up()
                if stop.is_set():
                    return 0
                async with open_watchman(config, secrets.ari_password) as watching:
                    watch = asyncio.create_task(watching.run(stop), name="watchman")
                    keep_fallback = asyncio.create_task(
                        fallback.run(stop, on_ready=lambda: None), name="fallback-keeper"
                    )
                    try:
                        return await keeper.run(
                            stop, on_ready=lambda: _print_call_in(config, instance.spec.numbers)
                        )
                    finally:
                        stop.set()  # the watchman and the fallback stop with the controller
                        await watch
                        await keep_fallback
            finally:
                await probe.close()
                await fallback_probe.close()
                await instance.down()

    return asyncio.run(run())


def cmd_watch(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    secrets = ensure_secrets(config.state_dir)

    async def watch() -> None:
        stop = asyncio.Event()
        with _stop_on_signals(stop):
            async with open_watchman(config, secrets.ari_password) as watchman:
                say(
                    f"watching the controller at {health_url(config)}: callers go to the "
                    f"fallback after {config.watchman.grace:g} s without it"
                )
                await watchman.run(stop)

    asyncio.run(watch())
    return 0


def cmd_fallback(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    def listening(agi: str, http: str) -> None:
        # The line `hotline run`'s reader and the test harness wait for.
        say(f"fallback serving FastAGI on {agi} (health: http://{http}/health)")

    async def serve() -> None:
        stop = asyncio.Event()
        with _stop_on_signals(stop):
            await run_fallback(config, stop, listening)
        say("fallback stopped")

    asyncio.run(serve())
    return 0


def _child_argv(args: argparse.Namespace, command: str) -> list[str]:
    """``hotline <command>`` with this command's options (the environment is inherited)."""
    options = ["--config", args.config] if args.config else []
    if args.verbose:
        options.append("-v")
    return [sys.executable, "-m", "hotline", *options, command]


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _serve(controller: Controller, keep_calls: bool) -> None:
    stop = asyncio.Event()
    with _stop_on_signals(stop):
        await controller.run(stop, keep_calls=keep_calls, on_ready=lambda: say("controller ready"))
    say("controller stopped")


def _print_call_in(config: Config, numbers: Sequence[str]) -> None:
    """``numbers``: the menu's, as the PBX was set up to accept them from the carrier."""
    pbx = config.pbx
    say("the hotline is up. To call in:")
    print(
        f"    SIP: INVITE sip:{numbers[0]}@{pbx.bind_address}:{pbx.sip_port} "
        f"from {pbx.carrier_match} (the carrier trunk; numbers: {', '.join(numbers)})\n"
        f"    e.g. a softphone on this machine: account without registration, "
        f"server {pbx.bind_address}:{pbx.sip_port}, dial {numbers[0]}\n"
        f"    health: http://{config.http.host}:{config.http.port}/health "
        f"(the FastAGI fallback's: {status.fallback_health_url(config)}; "
        f"hotline status says which serves)\n"
        f"    Ctrl-C stops the controller and the PBX.",
        flush=True,
    )


def cmd_pbx(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    podman = Podman(environ)
    if args.action == "image":
        asyncio.run(
            ensure_image(podman, config.pbx.image, ASTERISK_CONF / "packages.txt", say, environ)
        )
        return 0
    secrets = ensure_secrets(config.state_dir)
    instance = Instance(pbx_spec(config, secrets), podman, say)
    if args.action == "up":
        prepare_pbx(config)
        asyncio.run(instance.up())
    elif args.action == "down":
        asyncio.run(instance.down())
    elif args.action == "status":
        print(asyncio.run(instance.status()))
    elif args.action == "logs":
        print(asyncio.run(instance.logs()))
    elif args.action == "cli":
        return subprocess.call(instance.cli_argv(args.execute), env=podman.env)
    return 0


def cmd_config(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    print(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
