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

from hotline.app import ASTERISK_CONF, Controller, command_sets, pbx_spec, prepare_pbx
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
    check = sub.add_parser("config", help="show the effective configuration")
    check.add_argument("action", choices=["check"])
    check.set_defaults(handler=cmd_config)
    return parser


def _add_pbx_commands(sub: Subparsers) -> None:
    run = sub.add_parser(
        "run",
        help="start the PBX and the controller (started again if it dies); Ctrl-C stops both",
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
    """The PBX, and the controller as a child process (``hotline serve``) kept by
    ``hotline.keeper``, with the watchman beside it; the PBX stays up until we stop."""
    secrets = ensure_secrets(config.state_dir)
    instance = Instance(pbx_spec(config, secrets), Podman(environ), say)
    restarts = RestartPolicy(config.watchman.restarts, config.watchman.restart_window)

    async def run() -> int:
        prepare_pbx(config)
        probe = HealthProbe(health_url(config))
        keeper = Keeper(_serve_argv(args), environ, probe, restarts)
        stop = asyncio.Event()
        # Ctrl-C (the controller, in our process group, gets it too) or SIGTERM: the
        # controller stops gracefully first, then the PBX is removed.
        with _stop_on_signals(stop):
            try:
                await instance.up()
                if stop.is_set():
                    return 0
                async with open_watchman(config, secrets.ari_password) as watching:
                    watch = asyncio.create_task(watching.run(stop), name="watchman")
                    try:
                        return await keeper.run(
                            stop, on_ready=lambda: _print_call_in(config, instance.spec.numbers)
                        )
                    finally:
                        stop.set()  # the watchman stops with the controller
                        await watch
            finally:
                await probe.close()
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


def _serve_argv(args: argparse.Namespace) -> list[str]:
    """``hotline serve`` with this command's options (the environment is inherited)."""
    options = ["--config", args.config] if args.config else []
    if args.verbose:
        options.append("-v")
    return [sys.executable, "-m", "hotline", *options, "serve"]


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
        f"    health: http://{config.http.host}:{config.http.port}/health\n"
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
