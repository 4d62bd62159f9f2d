"""``hotline menu``, ``blacklist``, ``account`` and ``scenario``: the voice menu, who it
serves, and scripted test calls into it."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotline.commands import Subparsers, on_database, say
from hotline.config import Config
from hotline.errors import SetupError
from hotline.secrets import ensure_secrets

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


def add_commands(sub: Subparsers) -> None:
    add_menu_commands(sub)
    add_scenario_commands(sub)


def add_menu_commands(sub: Subparsers) -> None:
    """``menu``, ``blacklist`` and ``account``."""
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
    account_unlock = account_sub.add_parser(
        "unlock", help="lift the lock that wrong PINs put on an account"
    )
    account_unlock.add_argument("number")
    account_unlock.set_defaults(handler=cmd_account_lock, action="unlock")
    account_status = account_sub.add_parser("status", help="an account's PIN lock")
    account_status.add_argument("number")
    account_status.set_defaults(handler=cmd_account_lock, action="status")


def add_scenario_commands(sub: Subparsers) -> None:
    """``scenario``."""
    scenario = sub.add_parser("scenario", help="scripted test calls into the running hotline")
    scenario_sub = scenario.add_subparsers(required=True, metavar="ACTION")
    scenario_run = scenario_sub.add_parser("run", help="call in once per file; PASS or FAIL")
    scenario_run.add_argument("files", nargs="+", type=Path)
    scenario_run.set_defaults(handler=cmd_scenario_run)


def cmd_menu_check(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    from hotline.outbound import OutboundPolicy
    from ivr.check import check_file
    from prompts.build import load_catalogue

    names = {"name_zh": config.service.name_zh, "name_en": config.service.name_en}
    args.file = args.file or config.menu.file
    outbound = OutboundPolicy.from_config(config)
    menu, findings = check_file(args.file, load_catalogue(names), outbound)
    for finding in findings:
        print(f"{finding.level}: {finding.message}")
    if menu is None:
        return 1
    print(f"ok: {args.file}: {len(menu.nodes)} nodes, version {menu.version}")
    return 0


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


def cmd_account_set(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    import getpass

    from ivr.accounts import Accounts

    pin = args.pin or getpass.getpass(f"PIN for account {args.number}: ")

    async def run(engine: AsyncEngine) -> None:
        await Accounts(engine).set_pin(args.number, pin)

    on_database(config, run)
    say(f"PIN of account {args.number} set")
    return 0


def cmd_account_lock(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    from ivr.accounts import Accounts

    async def run(engine: AsyncEngine) -> None:
        accounts = Accounts(engine)
        if args.action == "unlock":
            if await accounts.unlock(args.number):
                say(f"account {args.number} unlocked")
            else:
                say(f"account {args.number} was not locked (its wrong PINs are forgotten)")
            return
        status = await accounts.status(args.number)
        until = status.locked_until
        print(f"account:\t{status.account}")
        print(f"PIN set:\t{'yes' if status.exists else 'no'}")
        print(f"lock:\t{f'locked until {until:%Y-%m-%d %H:%M:%S} UTC' if until else 'not locked'}")
        print(f"wrong PINs:\t{status.recent_failures} (only those within the menu's window count)")

    on_database(config, run)
    return 0


def cmd_scenario_run(args: argparse.Namespace, config: Config, environ: Mapping[str, str]) -> int:
    # Imported here, as ivr.scenario asks: the ARI and database code loads only for real calls.
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
