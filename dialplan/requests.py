"""The FastAGI requests of the fallback dialplan, by the name the dialplan asks for.

Each sets channel variables and nothing else; the dialplan decides what the caller hears.
A request that cannot be answered (the database away, no answer in time) sets nothing:
the dialplan reads an empty variable as "no" and serves the caller, since refusing every
caller of an outage to keep out a blacklisted one is the worse failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncEngine

from dialplan.agi import AgiSession, Handler
from hotline.config import Config
from ivr.blacklist import Blacklist

BLACKLISTED = "HOTLINE_BLACKLISTED"  # yes / no
BLACKLIST_ACTION = "HOTLINE_BLACKLIST_ACTION"  # refuse (answer, say why) / silent / ""


def blacklist_check(blacklist: Blacklist) -> Handler:
    """``blacklist-check``: is the caller (``agi_callerid``, any written form) refused?"""

    async def check(session: AgiSession) -> None:
        verdict = await blacklist.screen(session.env.get("agi_callerid", ""))
        await session.set_variable(BLACKLISTED, "yes" if verdict else "no")
        await session.set_variable(BLACKLIST_ACTION, verdict.action.value if verdict else "")

    return check


class FallbackRequests:
    """Every request the fallback dialplan may ask, on the hotline's database, and the
    chores that go with them (``run``: one task, owned by the fallback service)."""

    def __init__(self, config: Config, engine: AsyncEngine) -> None:
        self.config = config
        self.handlers: Mapping[str, Handler] = {
            "blacklist-check": blacklist_check(Blacklist(engine)),
        }

    async def run(self) -> None:
        """Until cancelled."""
        await asyncio.Event().wait()
