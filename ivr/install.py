"""The voice menu's entry into the controller: every call starts (and resumes) here, the
menu file is loaded, watched and reloaded, and the blacklist's and admins' routes."""

from __future__ import annotations

import datetime as dt
import logging
import time
import zoneinfo
from collections.abc import Callable
from typing import Any

from acd.install import ACD_FILES, CALLBACKS, CURRENT_CALLER, IDENTIFY
from acd.model import AcdSetup
from hotline.services import OUTBOUND
from hotline.wiring import BackgroundTask, Feature, Wiring
from ivr import cli, model
from ivr.accounts import Accounts
from ivr.after import add_phases
from ivr.blacklist import Blacklist
from ivr.call import DialPlan, IvrKit
from ivr.http import BlacklistApi, MenuAdminApi, openapi_paths
from ivr.library import MenuLibrary
from ivr.line.listener import forget_stale_listening
from ivr.phases import Answering
from ivr.survey import Surveys
from prompts.build import load_catalogue
from recordings.install import RECORDER, VOICE_MESSAGES

log = logging.getLogger(__name__)


def install(wiring: Wiring) -> None:
    config, engine = wiring.config, wiring.engine
    names = {"name_zh": config.service.name_zh, "name_en": config.service.name_en}
    outbound = wiring.need(OUTBOUND)
    menus = MenuLibrary(config.menu.file, load_catalogue(names), engine, outbound)
    acd_files = wiring.need(ACD_FILES)
    blacklist = Blacklist(engine)
    kits: list[IvrKit] = []  # made at start-up: the menu's clock needs its time zone

    async def menu_changed(old: model.Menu, new: model.Menu) -> None:
        check_queues(new, acd_files.current)
        await wiring.pbx.menu_changed(list(new.numbers))  # numbers and the fallback menu

    async def start() -> None:
        forget_stale_listening(config.recordings_dir)
        await menus.load()
        check_queues(menus.current, acd_files.current)
        menus.on_change.append(menu_changed)
        kits.append(
            IvrKit(
                menus=menus,
                screen=blacklist.screen,
                accounts=Accounts(engine),
                messages=wiring.need(VOICE_MESSAGES),
                callbacks=wiring.need(CALLBACKS),
                clock=make_clock(config.menu.clock, menus.current.hours.timezone),
                dialplan=DialPlan(
                    app=config.ari.app,
                    agent=config.pbx.agent_dial,
                    outbound=outbound,
                    message_max_silence=config.menu.message_silence,
                ),
                recordings_dir=config.recordings_dir,
                start_recording=wiring.need(RECORDER).start,
                surveys=Surveys(engine, wiring.writes),
                survey=config.survey,
            )
        )
        add_phases(wiring.phases, kits[0])

    async def reload_menu() -> dict[str, Any]:
        return (await menus.load()).as_json()

    wiring.set_entry(Answering.name)
    wiring.startup.append(start)
    wiring.health["menu"] = lambda: menus.current.version if menus.loaded else ""
    admin = MenuAdminApi(
        reload_menu, lambda: {"version": menus.current.version, "file": str(menus.path)}
    )
    blacklist_api = BlacklistApi(blacklist, wiring.need(IDENTIFY), wiring.need(CURRENT_CALLER))
    wiring.routes += [admin.routes, blacklist_api.routes]
    wiring.openapi.update(openapi_paths())
    if config.menu.watch:
        wiring.tasks.append(BackgroundTask("menu-watch", menus.watch))


def check_queues(menu: model.Menu, setup: AcdSetup) -> None:
    """A menu queue node naming a queue the ACD file lacks sends callers to its fallback;
    say so when either file is loaded, not when a caller finds out."""
    wanted = {n.queue for n in menu.nodes.values() if isinstance(n, model.QueueNode)}
    for queue in sorted(wanted - set(setup.queues)):
        log.warning(
            "menu %s names queue '%s', which %s lacks: its callers get the fallback",
            menu.path,
            queue,
            setup.path,
        )


def make_clock(local_start: str, timezone: str) -> Callable[[], dt.datetime]:
    """The menu's clock: real time, or (menu.clock) a chosen local time moving on from
    the moment the controller starts."""
    if not local_start:
        return lambda: dt.datetime.now(dt.UTC)
    start = dt.datetime.fromisoformat(local_start)
    if start.tzinfo is None:
        start = start.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    began = time.monotonic()
    return lambda: start + dt.timedelta(seconds=time.monotonic() - began)


FEATURE = Feature("ivr", install=install, commands=cli.add_commands)
