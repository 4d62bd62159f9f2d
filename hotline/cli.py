"""The ``hotline`` command. The environment is read here, once, and nowhere deeper."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from hotline.app import ASTERISK_CONF, Controller, command_sets, pbx_spec, prepare_pbx
from hotline.commands import Subparsers, say
from hotline.config import Config, load_config
from hotline.errors import HotlineError
from hotline.pbx.image import ensure_image
from hotline.pbx.instance import Instance
from hotline.pbx.podman import Podman
from hotline.secrets import ensure_secrets, keep_files_private


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
    run = sub.add_parser("run", help="start the PBX and the controller; Ctrl-C stops both")
    run.set_defaults(handler=cmd_run)

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
    secrets = ensure_secrets(config.state_dir)
    instance = Instance(pbx_spec(config, secrets), Podman(environ), say)

    async def run() -> None:
        prepare_pbx(config)
        try:
            await instance.up()
            await _serve(
                Controller(config, secrets),
                keep_calls=False,
                on_ready=lambda: _print_call_in(config, instance.spec.numbers),
            )
        finally:
            await instance.down()

    # Ctrl-C arrives as a stop request for the controller, then the PBX is removed.
    asyncio.run(run())
    return 0


async def _serve(
    controller: Controller, keep_calls: bool, on_ready: Callable[[], None] | None = None
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ready = on_ready or (lambda: say("controller ready"))
    try:
        await controller.run(stop, keep_calls=keep_calls, on_ready=ready)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
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
