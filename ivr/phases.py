"""The voice menu's phases of a call: answering (the blacklist screen, the answer, the
call's bridge and recording), the menu itself, and a menu transfer's conversation.

    answering --(blacklisted)--> end
    answering --> menu --(node by node, MenuRunner)--> end
                  menu --(queue node)--> queued (the ACD's) --(nobody there)--> menu
                  menu --(transfer answered)--> connected --> end
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import ClassVar

from hotline.calls import legs
from hotline.calls.journey import Call, End, Phase, StoredPhase, service
from hotline.calls.media import prompt_media
from hotline.calls.store import now
from hotline.calls.timeline import Kind
from ivr import model
from ivr.blacklist import Action, Verdict
from ivr.call import ChannelIO, Ears, HandOver, IvrKit, LiveServices
from ivr.runner import KEY_EVENT, Ended, MenuRunner


@dataclass(frozen=True)
class Answering(StoredPhase):
    """A new call: screened against the blacklist, answered, put in its own bridge (what
    the caller hears from now on, and what is recorded)."""

    name: ClassVar[str] = "answering"
    bridged: ClassVar[bool] = False
    kit: IvrKit = service()

    async def run(self, call: Call) -> Phase | End:
        kit, context = self.kit, call.context
        verdict = await kit.screen(call.channel.caller_number)
        if verdict is not None:
            return await self._refuse(call, verdict)
        menu = kit.menus.current
        context.language = menu.language
        context.priority = menu.priority_for(context.dialled)
        context.menu_version = menu.version
        await call.channel.answer()
        await call.store.update(
            call.call_id,
            answered_at=now(),
            menu_version=menu.version,
            priority=context.priority,
            language=context.language,
        )
        await legs.enter_bridge(call.call_id, call.channel, call.legs)
        await kit.start_recording(call.call_id, call.channel, context.dialled)
        return Menu(kit, node=menu.start)

    async def _refuse(self, call: Call, verdict: Verdict) -> End:
        """A blacklisted caller: a short refusal, or no answer at all."""
        await call.log(Kind.BLACKLISTED, pattern=verdict.pattern, action=verdict.action.value)
        if verdict.action is Action.SILENT:
            await call.channel.hangup(reason="rejected")
            return End("blacklisted")
        await call.channel.answer()
        language = self.kit.menus.current.language
        await call.channel.play([prompt_media("blacklisted", language)], barge_in=False)
        await call.channel.hangup()
        return End("blacklisted")


@dataclass(frozen=True)
class Menu(StoredPhase):
    """The caller walks the menu (the version the call started on) from ``node``; the
    caller's audio is listened to for the line checks meanwhile."""

    name: ClassVar[str] = "menu"
    kit: IvrKit = service()
    node: str = ""

    async def run(self, call: Call) -> Phase | End:
        menu = await self._menu(call)
        ears = Ears(self.kit, call)
        services = LiveServices(self.kit, call, ears)

        async def on_move(node_id: str, event: str) -> None:
            if event.startswith(KEY_EVENT):
                await call.log(Kind.KEY, node=node_id, keys=event[len(KEY_EVENT) :])
                return
            await call.log(Kind.NODE, node=node_id, event=event)
            if event == "enter":
                await call.save(Menu(self.kit, node=node_id), node=node_id)

        runner = MenuRunner(menu, ChannelIO(call), services, call.context, self.kit.clock, on_move)
        services.runner = runner
        if menu.line_check.enabled:
            await ears.start()
        try:
            ended: Ended = await runner.run(self.node if self.node in menu.nodes else menu.start)
        except HandOver as handover:
            return handover.phase
        finally:
            await ears.stop()
        await call.store.update(call.call_id, keys=call.context.keys[-256:])
        return End(ended.disposition)

    async def _menu(self, call: Call) -> model.Menu:
        """The version the call started on (a version nobody stored: the one in service)."""
        menus = self.kit.menus
        version = call.context.menu_version
        menu = await menus.version(version) if version else None
        return menu if menu is not None else menus.current


@dataclass(frozen=True)
class Connected(StoredPhase):
    """The caller and the person a menu transfer (or an agent's transfer out) reached, on
    ``leg``, until either hangs up. No survey here: R-6's survey rates an ACD agent, and
    whoever a transfer reaches may be nobody's agent."""

    name: ClassVar[str] = "connected"
    leg: str = ""
    to: str = ""

    async def run(self, call: Call) -> Phase | End:
        ari, bridge = call.channel.ari, legs.bridge_id(call.call_id)
        try:
            await legs.converse(call.channel, self.leg)
            await call.log(Kind.AGENT_HUNG_UP, leg=self.leg)
        except asyncio.CancelledError:
            raise  # the controller is stopping: the conversation stays for the next one
        except BaseException:
            await legs.quietly(ari.hangup(self.leg))  # the caller went, so does the other
            await legs.quietly(ari.destroy_bridge(bridge))
            raise
        await legs.quietly(ari.destroy_bridge(bridge))
        await call.channel.hangup()
        return End("transferred")
