"""What the ``hotline`` command's modules share: the core commands in ``hotline.cli`` and
each feature's own (``ivr.cli``, ``acd.cli``, ...), which the composition root lists in
``hotline.app.command_sets``. Nothing here knows which features there are."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeAlias, TypeVar

from hotline.config import Config

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

# Quoted: argparse's class is generic only in typeshed, not at run time (Python 3.11).
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""Where a command set adds its commands (``add_commands(sub)``)."""

Handler: TypeAlias = Callable[[argparse.Namespace, Config, Mapping[str, str]], int]
"""A command: parsed arguments, the configuration, the environment (read once, in
``hotline.cli.main``) → the exit code. Set as the parser's ``handler`` default."""


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


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


def instant(text: str) -> datetime:
    """An argparse type: an ISO date-time in UTC (naive is taken as UTC, like the API)."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO date-time like 2026-11-22T08:00+08:00, got {text!r}"
        ) from None
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).astimezone(UTC)
