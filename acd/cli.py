"""``hotline agent`` and ``hotline acd``: agents' credentials and the ACD file."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from hotline.commands import Subparsers, on_database, say
from hotline.config import Config
from hotline.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine


def add_commands(sub: Subparsers) -> None:
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
