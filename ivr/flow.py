"""The call's state machine: answer -> greeting -> menu (collect a key) -> act -> goodbye.

States are named and stored on the call record at every transition, so a restarted
controller resumes a call where it stood. Each state handler returns the next state.
The menu YAML of the next issue replaces the fixed menu here; the shape stays.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hotline.calls.session import CallChannel
from hotline.calls.store import CallStore, now
from hotline.pbx.instance import PROMPTS_IN_CONTAINER
from ivr.blacklist import Action, Verdict

log = logging.getLogger(__name__)


class CallState(enum.StrEnum):
    ANSWERING = "answering"
    GREETING = "greeting"
    MENU = "menu"
    ACTING = "acting"
    GOODBYE = "goodbye"
    ENDED = "ended"


@dataclass(frozen=True)
class MenuTiming:
    timeout: float = 5.0
    tries: int = 3


def prompt_media(prompt_id: str, lang: str) -> str:
    return f"sound:{PROMPTS_IN_CONTAINER}/{lang}/{prompt_id}"


class CallFlow:
    def __init__(
        self,
        call_id: str,
        channel: CallChannel,
        store: CallStore,
        timing: MenuTiming,
        screen: Callable[[str], Awaitable[Verdict | None]],
        language: str = "zh",
    ) -> None:
        self.screen = screen
        self.call_id = call_id
        self.channel = channel
        self.store = store
        self.timing = timing
        self.language = language
        self.disposition = "completed"
        self._handlers: dict[CallState, Callable[[], Awaitable[CallState]]] = {
            CallState.ANSWERING: self.answering,
            CallState.GREETING: self.greeting,
            CallState.MENU: self.menu,
            CallState.ACTING: self.acting,
            CallState.GOODBYE: self.goodbye,
        }

    async def run(self, state: CallState = CallState.ANSWERING) -> str:
        """Drive the call to its end; returns the disposition."""
        while state is not CallState.ENDED:
            await self.store.update(self.call_id, state=state.value)
            state = await self._handlers[state]()
        return self.disposition

    async def play(self, prompt_id: str, barge_in: bool = True) -> str | None:
        return await self.channel.play([prompt_media(prompt_id, self.language)], barge_in)

    # --- states ------------------------------------------------------------------------
    async def answering(self) -> CallState:
        verdict = await self.screen(self.channel.caller_number)
        if verdict is not None:
            return await self.refuse(verdict)
        await self.channel.answer()
        await self.store.update(self.call_id, answered_at=now())
        return CallState.GREETING

    async def refuse(self, verdict: Verdict) -> CallState:
        """A blacklisted caller: a short refusal, or no answer at all."""
        await self.store.log(
            self.call_id, "blacklisted", pattern=verdict.pattern, action=verdict.action.value
        )
        self.disposition = "blacklisted"
        if verdict.action is Action.SILENT:
            await self.channel.hangup(reason="rejected")
            return CallState.ENDED
        await self.channel.answer()
        await self.play("blacklisted", barge_in=False)
        await self.channel.hangup()
        return CallState.ENDED

    async def greeting(self) -> CallState:
        digit = await self.play("greeting")
        if digit is not None:
            self.channel.typeahead.appendleft(digit)  # the menu acts on it at once
        return CallState.MENU

    async def menu(self) -> CallState:
        for attempt in range(1, self.timing.tries + 1):
            digit = await self.play("main-menu") or await self.channel.wait_digit(
                self.timing.timeout
            )
            if digit is not None:
                await self.store.add_key(self.call_id, digit)
                return CallState.ACTING
            await self.store.log(self.call_id, "no-input", attempt=attempt)
            if attempt < self.timing.tries:
                await self.play("no-input")
        self.disposition = "no_input"
        return CallState.GOODBYE

    async def acting(self) -> CallState:
        await self.play("choice-received")
        return CallState.GOODBYE

    async def goodbye(self) -> CallState:
        await self.play("goodbye", barge_in=False)
        await self.channel.hangup()
        return CallState.ENDED
