"""The ``hotline`` command. The environment is read here, once, and nowhere deeper."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hotline.app import ASTERISK_CONF, Controller, pbx_spec
from hotline.config import Config, load_config
from hotline.errors import ConfigError, HotlineError, SetupError
from hotline.pbx.image import ensure_image
from hotline.pbx.instance import Instance
from hotline.pbx.podman import Podman
from hotline.secrets import ensure_secrets
from reports.kpis import DIMENSIONS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from recordings.index import Recording

T = TypeVar("T")


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
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

    prompts = sub.add_parser("prompts", help="prompt audio")
    prompts_sub = prompts.add_subparsers(required=True, metavar="ACTION")
    prompts_sub.add_parser("build", help="synthesise missing prompts").set_defaults(
        handler=cmd_prompts
    )
    prompts_import = prompts_sub.add_parser("import", help="use your own recording")
    prompts_import.add_argument("prompt_id")
    prompts_import.add_argument("file", type=Path)
    prompts_import.add_argument("--lang", default="zh", choices=["zh", "en"])
    prompts_import.set_defaults(handler=cmd_prompts_import)

    menu = sub.add_parser("menu", help="the voice menu (YAML)")
    menu_sub = menu.add_subparsers(required=True, metavar="ACTION")
    menu_check = menu_sub.add_parser("check", help="validate a menu file")
    menu_check.add_argument("file", type=Path, nargs="?", help="default: menu.file")
    menu_check.set_defaults(handler=cmd_menu_check)

    menu_reload = menu_sub.add_parser(
        "reload", help="check menu.file and put it in service (calls in progress stay)"
    )
    menu_reload.set_defaults(handler=cmd_menu_reload)

    menu_try = menu_sub.add_parser("try", help="walk a menu in the terminal (no PBX)")
    menu_try.add_argument("file", type=Path, nargs="?", help="default: menu.file")
    menu_try.add_argument("--dialled", default="", help="the number dialled (default: first)")
    menu_try.add_argument("--at", default="", help="local time, e.g. 2026-10-01T10:00")
    menu_try.add_argument("--pin", action="append", default=[], metavar="ACCOUNT=PIN")
    menu_try.set_defaults(handler=cmd_menu_try)

    menu_graph = menu_sub.add_parser("graph", help="draw a menu (svg, png, pdf or dot)")
    menu_graph.add_argument("file", type=Path, nargs="?", help="default: menu.file")
    menu_graph.add_argument("-o", "--output", type=Path, default=Path("menu.svg"))
    menu_graph.set_defaults(handler=cmd_menu_graph)

    black = sub.add_parser("blacklist", help="caller numbers and prefixes refused service")
    black_sub = black.add_subparsers(required=True, metavar="ACTION")
    black_add = black_sub.add_parser("add", help="refuse a number (or a prefix)")
    black_add.add_argument("number")
    black_add.add_argument("--prefix", action="store_true", help="every number starting so")
    black_add.add_argument("--silent", action="store_true", help="reject without a prompt")
    black_add.add_argument("--reason", default="")
    black_add.set_defaults(handler=cmd_blacklist, action="add")
    black_rm = black_sub.add_parser("remove", help="serve a number again")
    black_rm.add_argument("number")
    black_rm.set_defaults(handler=cmd_blacklist, action="remove")
    black_sub.add_parser("list").set_defaults(handler=cmd_blacklist, action="list")

    account = sub.add_parser("account", help="accounts whose PIN the menu verifies")
    account_sub = account.add_subparsers(required=True, metavar="ACTION")
    account_set = account_sub.add_parser("set", help="set an account's PIN")
    account_set.add_argument("number")
    account_set.add_argument("--pin", default="", help="the PIN (asked for when left out)")
    account_set.set_defaults(handler=cmd_account_set)

    agent = sub.add_parser("agent", help="agents and supervisors")
    agent_sub = agent.add_subparsers(required=True, metavar="ACTION")
    agent_pw = agent_sub.add_parser("password", help="set an agent's password")
    agent_pw.add_argument("number")
    agent_pw.add_argument("--password", default="", help="the password (asked for when left out)")
    agent_pw.set_defaults(handler=cmd_agent_password)

    agent_phone = agent_sub.add_parser("phone", help="the SIP account of an agent's phone")
    agent_phone.add_argument("number")
    agent_phone.set_defaults(handler=cmd_agent_phone)

    acd = sub.add_parser("acd", help="queues and agents")
    acd_sub = acd.add_subparsers(required=True, metavar="ACTION")
    acd_check = acd_sub.add_parser("check", help="validate an ACD file")
    acd_check.add_argument("file", type=Path, nargs="?", help="default: acd.file")
    acd_check.set_defaults(handler=cmd_acd_check)

    scenario = sub.add_parser("scenario", help="scripted test calls into the running hotline")
    scenario_sub = scenario.add_subparsers(required=True, metavar="ACTION")
    scenario_run = scenario_sub.add_parser("run", help="call in once per file; PASS or FAIL")
    scenario_run.add_argument("files", nargs="+", type=Path)
    scenario_run.set_defaults(handler=cmd_scenario_run)

    recs = sub.add_parser("recordings", help="whole-call recordings and their store")
    recs_sub = recs.add_subparsers(required=True, metavar="ACTION")
    recs_list = recs_sub.add_parser("list", help="find recordings, newest first")
    recs_list.add_argument("--caller", default="", help="the caller's number")
    recs_list.add_argument("--agent", default="", help="an agent's number")
    recs_list.add_argument("--queue", default="", help="a queue's name")
    recs_list.add_argument("--since", type=_instant, help="started at or after (ISO; naive is UTC)")
    recs_list.add_argument("--until", type=_instant, help="started before (ISO; naive is UTC)")
    recs_list.add_argument("--limit", type=_limit, default=100, help="1-1000 (default 100)")
    recs_list.set_defaults(handler=cmd_recordings_list)
    recs_export = recs_sub.add_parser(
        "export", help="copy a call's audio and timeline to a directory, checking the audio"
    )
    recs_export.add_argument("call", help="the call id")
    recs_export.add_argument("dest", type=Path, metavar="DEST_DIR")
    recs_export.set_defaults(handler=cmd_recordings_export)
    recs_purge = recs_sub.add_parser(
        "purge", help="delete recordings older than recordings.retention_days"
    )
    recs_purge.add_argument("--dry-run", action="store_true", help="only show what would go")
    recs_purge.set_defaults(handler=cmd_recordings_purge)

    report = sub.add_parser("report", help="call-centre KPIs from the call log")
    report.add_argument(
        "--by", default="queue", choices=DIMENSIONS, help="the grouping (default: queue)"
    )
    report.add_argument(
        "--since", type=_instant, help="calls started at or after (ISO; naive is UTC)"
    )
    report.add_argument("--until", type=_instant, help="calls started before (ISO; naive is UTC)")
    report.add_argument(
        "--charts", type=Path, metavar="DIR", help="also write calls-by-hour.png and queues.png"
    )
    report.set_defaults(handler=cmd_report)

    check = sub.add_parser("config", help="show the effective configuration")
    check.add_argument("action", choices=["check"])
    check.set_defaults(handler=cmd_config)
    return parser


# --- commands -------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    secrets = ensure_secrets(config.state_dir)
    asyncio.run(_serve(Controller(config, secrets), keep_calls=args.keep_calls))
    return 0


def cmd_run(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    secrets = ensure_secrets(config.state_dir)
    instance = Instance(pbx_spec(config, secrets), Podman(environ), say)

    async def run() -> None:
        _build_prompts(config)
        try:
            await instance.up()
            await _serve(
                Controller(config, secrets),
                keep_calls=False,
                on_ready=lambda: _print_call_in(config),
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


def _print_call_in(config: Config) -> None:
    from ivr.loader import load_menu

    pbx = config.pbx
    numbers = list(load_menu(config.menu.file).numbers)
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
        _build_prompts(config)
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


def cmd_prompts(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    _build_prompts(config)
    return 0


def cmd_prompts_import(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    from prompts.build import import_prompt, load_catalogue

    names = {"name_zh": config.service.name_zh, "name_en": config.service.name_en}
    seconds = import_prompt(
        config.prompts_dir, load_catalogue(names), args.prompt_id, args.lang, args.file
    )
    say(f"prompt {args.lang}/{args.prompt_id}: imported {args.file.name} ({seconds:.1f} s)")
    return 0


def _build_prompts(config: Config) -> None:
    from prompts.build import build, load_catalogue

    names = {"name_zh": config.service.name_zh, "name_en": config.service.name_en}
    build(config.prompts_dir, load_catalogue(names), say)


def cmd_menu_check(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    from ivr.check import check_file
    from prompts.build import load_catalogue

    names = {"name_zh": config.service.name_zh, "name_en": config.service.name_en}
    args.file = args.file or config.menu.file
    menu, findings = check_file(args.file, load_catalogue(names))
    for finding in findings:
        print(f"{finding.level}: {finding.message}")
    if menu is None:
        return 1
    print(f"ok: {args.file}: {len(menu.nodes)} nodes, version {menu.version}")
    return 0


def cmd_menu_try(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    import datetime as dt
    import zoneinfo

    from ivr.loader import load_menu
    from ivr.try_ import try_menu
    from prompts.build import load_catalogue

    menu = load_menu(args.file or config.menu.file)
    tz = zoneinfo.ZoneInfo(menu.hours.timezone)
    now = dt.datetime.fromisoformat(args.at).replace(tzinfo=tz) if args.at else dt.datetime.now(tz)
    pins = dict(p.split("=", 1) for p in args.pin if "=" in p)
    names = {"name_zh": menu.name_zh, "name_en": menu.name_en}
    dialled = args.dialled or next(iter(menu.numbers))
    asyncio.run(try_menu(menu, load_catalogue(names), dialled, now, pins))
    return 0


def cmd_menu_graph(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    from ivr.graph import render, to_dot
    from ivr.loader import load_menu
    from prompts.build import load_catalogue

    menu = load_menu(args.file or config.menu.file)
    names = {"name_zh": menu.name_zh, "name_en": menu.name_en}
    render(to_dot(menu, load_catalogue(names)), args.output)
    say(f"menu graph written to {args.output}")
    return 0


def on_database(config: Config, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run one piece of database work for a command: open, make the schema, close."""
    from hotline.db import create_schema, make_engine

    async def run() -> T:
        engine = make_engine(config.db_url)
        try:
            await create_schema(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_blacklist(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    from ivr.blacklist import Action, Blacklist

    async def run(engine: AsyncEngine) -> int:
        blacklist = Blacklist(engine)
        if args.action == "add":
            action = Action.SILENT if args.silent else Action.REFUSE
            await blacklist.add(args.number, args.prefix, action, args.reason)
            kind = "prefix" if args.prefix else "number"
            say(f"blacklisted {kind} {args.number} ({action.value})")
        elif args.action == "remove":
            if not await blacklist.remove(args.number):
                print(f"hotline: {args.number} was not blacklisted", file=sys.stderr)
                return 1
            say(f"{args.number} removed from the blacklist")
        else:
            for e in await blacklist.entries():
                kind = "prefix" if e.prefix else "number"
                print(f"{e.pattern}\t{kind}\t{e.action}\t{e.reason}")
        return 0

    return on_database(config, run)


def cmd_menu_reload(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    """Ask the running controller to reload; it checks the file first and keeps the
    running menu when the file is broken."""
    import aiohttp

    secrets = ensure_secrets(config.state_dir)
    host = "127.0.0.1" if config.http.host in ("0.0.0.0", "::") else config.http.host
    url = f"http://{host}:{config.http.port}/admin/menu/reload"

    async def run() -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {secrets.admin_token}"}
        async with aiohttp.ClientSession() as http, http.post(url, headers=headers) as resp:
            return resp.status, await resp.json()

    try:
        status, body = asyncio.run(run())
    except aiohttp.ClientError as exc:
        raise SetupError(f"the controller is not reachable at {url}: {exc}") from None
    if status != 200:
        print(f"hotline: menu rejected: {body.get('message', body)}", file=sys.stderr)
        for extra in body.get("details", {}).get("errors", [])[1:]:
            print(f"hotline:   also: {extra}", file=sys.stderr)
        print("hotline: the running menu is unchanged", file=sys.stderr)
        return 1
    for warning in body.get("warnings", []):
        print(f"warning: {warning}")
    if body["changed"]:
        say(
            f"menu {body['version']} in service ({body['nodes']} nodes); calls in progress "
            "finish on the version they started with"
        )
    else:
        say(f"menu {body['version']} already in service")
    return 0


def cmd_account_set(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    import getpass

    from ivr.accounts import Accounts

    pin = args.pin or getpass.getpass(f"PIN for account {args.number}: ")

    async def run(engine: AsyncEngine) -> None:
        await Accounts(engine).set_pin(args.number, pin)

    on_database(config, run)
    say(f"PIN of account {args.number} set")
    return 0


def cmd_agent_password(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    import getpass

    from acd.loader import load_acd
    from acd.store import AcdStore

    setup = load_acd(config.acd.file)
    if args.number not in setup.agents:
        raise ConfigError(f"no agent numbered {args.number!r} in {config.acd.file}")
    password = args.password or getpass.getpass(f"password for agent {args.number}: ")
    if len(password) < 8:
        raise ConfigError("a password has at least 8 characters")

    async def run(engine: AsyncEngine) -> None:
        await AcdStore(engine).set_password(args.number, password)

    on_database(config, run)
    say(f"password of agent {args.number} set")
    return 0


def cmd_agent_phone(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    from acd.loader import load_acd
    from hotline.secrets import phone_passwords

    agent = load_acd(config.acd.file).agents.get(args.number)
    if agent is None:
        raise ConfigError(f"no agent numbered {args.number!r} in {config.acd.file}")
    password = phone_passwords(config.state_dir, [agent.extension])[agent.extension]
    print(
        f"agent {agent.number} ({agent.name}): register the phone at "
        f"sip:{config.pbx.bind_address}:{config.pbx.sip_port} as user {agent.extension}, "
        f"password {password}"
    )
    return 0


def cmd_acd_check(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    from acd.loader import load_acd

    setup = load_acd(args.file or config.acd.file)
    say(
        f"{setup.path}: {len(setup.queues)} queues, {len(setup.agents)} agents, "
        f"version {setup.version}"
    )
    return 0


def cmd_scenario_run(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    from ivr.scenario.suite import ScenarioSettings, run_scenarios
    from prompts.build import load_catalogue

    names = {"name_zh": config.service.name_zh, "name_en": config.service.name_en}
    settings = ScenarioSettings(
        ari_url=config.ari_url,
        ari_user=config.ari.username,
        ari_password=ensure_secrets(config.state_dir).ari_password,
        ari_app=config.ari.app,
        db_url=config.db_url,
        prompts_dir=config.prompts_dir,
        recordings_dir=config.state_dir / "pbx" / "recordings",
        prompt_ids=frozenset(load_catalogue(names)),
    )
    return asyncio.run(run_scenarios(args.files, settings))


def _instant(text: str) -> datetime:
    """An argparse type: an ISO date-time in UTC (naive is taken as UTC, like the API)."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO date-time like 2026-11-22T08:00+08:00, got {text!r}"
        ) from None
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(UTC)


def _limit(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"expected a whole number 1-1000, got {text!r}")
    return int(text)


def cmd_recordings_list(
    args: argparse.Namespace, config: Config, environ: Mapping[str, str]
) -> int:
    from recordings.index import RecordingIndex, Search

    search = Search(
        caller=args.caller,
        agent=args.agent,
        queue=args.queue,
        since=args.since,
        until=args.until,
        limit=args.limit,
    )

    async def run(engine: AsyncEngine) -> Sequence[Recording]:
        return await RecordingIndex(engine).search(search)

    rows = on_database(config, run)
    if not rows:
        print("no recordings found")
        return 0
    header = ["call", "started (UTC)", "duration", "caller", "agents", "queues", "status", "size"]
    print(_table(header, [_recording_cells(row) for row in rows]))
    return 0


def _recording_cells(row: Recording) -> list[str]:
    from hotline.db import aware

    minutes, seconds = divmod(round(row.duration_s), 60)
    return [
        row.call_id,
        aware(row.started_at).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        f"{minutes}:{seconds:02d}",
        row.caller_number,
        ",".join(row.agent_list()) or "-",
        ",".join(row.queue_list()) or "-",
        row.status,
        _size(row.size_bytes),
    ]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


def cmd_recordings_export(
    args: argparse.Namespace, config: Config, environ: Mapping[str, str]
) -> int:
    import shutil

    from recordings.index import RecordingIndex, RecordingStatus
    from recordings.retention import file_in_store, is_call_id

    call = args.call
    if not is_call_id(call):
        print(f"hotline: {call!r} is not a call id (a lower-case UUID)", file=sys.stderr)
        return 1

    async def run(engine: AsyncEngine) -> Recording | None:
        return await RecordingIndex(engine).get(call)

    row = on_database(config, run)
    if row is None:
        print(f"hotline: no recording of call {call}", file=sys.stderr)
        return 1
    if row.status != RecordingStatus.STORED:
        print(f"hotline: recording {call} is {row.status}, not stored: no audio", file=sys.stderr)
        return 1
    store = config.recordings_store
    audio = file_in_store(store, row.path)
    if audio is None or not audio.is_file():
        print(f"hotline: the audio of {call} is not in the store ({row.path!r})", file=sys.stderr)
        return 1
    args.dest.mkdir(parents=True, exist_ok=True)
    copied = Path(shutil.copy2(audio, args.dest / audio.name))
    actual = _sha256(copied)
    if row.sha256 and actual != row.sha256:
        print(
            f"hotline: {copied}: sha256 {actual} does not match the index ({row.sha256}); "
            "the stored audio may be damaged",
            file=sys.stderr,
        )
        return 1
    print(copied)
    for label, relative in (("timeline", row.timeline_path), ("compressed", row.compressed_path)):
        if not relative:
            continue
        source = file_in_store(store, relative)
        if source is None or not source.is_file():
            print(f"warning: the {label} file of {call} is not in the store ({relative!r})")
            continue
        print(shutil.copy2(source, args.dest / source.name))
    say(f"recording {call} exported" + (", audio checked (sha256)" if row.sha256 else ""))
    return 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def cmd_recordings_purge(
    args: argparse.Namespace, config: Config, environ: Mapping[str, str]
) -> int:
    from recordings.index import RecordingIndex
    from recordings.retention import PurgeResult, purge

    days = config.recordings.retention_days

    async def run(engine: AsyncEngine) -> PurgeResult:
        index = RecordingIndex(engine)
        return await purge(index, config.recordings_store, days, datetime.now(UTC), args.dry_run)

    result = on_database(config, run)
    verb = "would remove" if result.dry_run else "removed"
    for call in result.calls:
        print(f"{verb} {call}")
    for call, paths in result.refused.items():
        print(f"warning: {call}: paths outside the store left alone: {', '.join(paths)}")
    for call, why in result.failed.items():
        print(f"hotline: {call}: cannot delete its files: {why}", file=sys.stderr)
    count = f"{len(result.calls)} recording" + ("" if len(result.calls) == 1 else "s")
    freed = f"{result.freed_bytes} bytes ({_size(result.freed_bytes)})"
    if result.dry_run:
        summary = f"{count} would be removed, freeing {freed}"
    else:
        summary = f"{count} removed, {freed} freed"
    say(f"retention {days} days (before {result.cutoff:%Y-%m-%d %H:%M} UTC): {summary}")
    return 1 if result.failed else 0


def cmd_report(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    from reports.kpis import CallFacts, kpis
    from reports.store import call_facts
    from reports.tables import render

    if args.since is not None and args.until is not None and args.since >= args.until:
        print("hotline: --since must be before --until", file=sys.stderr)
        return 1

    async def run(engine: AsyncEngine) -> list[CallFacts]:
        return await call_facts(engine, args.since, args.until)

    calls = on_database(config, run)
    threshold, tz = config.reports.service_level_seconds, config.reports.timezone
    print(render(kpis(calls, args.by, threshold, tz), args.by), end="")
    if args.charts is not None:
        from reports.charts import write_charts

        per_hour = kpis(calls, "hour", threshold, tz)
        per_queue = kpis(calls, "queue", threshold, tz)
        for path in write_charts(per_hour, per_queue, args.charts):
            say(f"chart written to {path}")
    return 0


def cmd_config(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    print(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
