"""Second channels a call places (an agent's phone, an outside number) and the bridge
that joins them to the caller. Used by menu transfers and by the ACD alike.

A leg's id starts with ``LEG_PREFIX`` and its events are routed to the call that placed
it (``attach_leg``); the caller's task owns it and hangs it up on every way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hotline.ari.errors import AriError, AriNotFound
from hotline.calls.registry import BRIDGE_PREFIX, LEG_PREFIX
from hotline.calls.session import CallChannel, CallerHungUp, recording_ended

log = logging.getLogger(__name__)

RINGBACK = "tone:ring;tonezone=cn"  # what the caller hears while a phone rings
MESSAGE_BEEP = "sound:beep"  # the caller may speak now
GONE_EVENTS = ("ChannelDestroyed", "StasisEnd")
# A call's bridge mixes in software from its first participant on (video_sfu keeps
# Asterisk from switching two parties to a native or 1:1 bridge), so the recording
# gets a steady 20 ms stream whoever speaks or is silent; keys stay events.
CALL_BRIDGE_TYPE = "mixing,dtmf_events,video_sfu"
CAUSE_BUSY = 17
CAUSE_NO_ANSWER = (18, 19)


class RingOutcome(enum.StrEnum):
    ANSWERED = "answered"
    NO_ANSWER = "no-answer"
    BUSY = "busy"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class LegPlan:
    """How this controller places legs."""

    app: str  # our ARI application: answered legs enter it
    attach: Callable[[str, str], None]  # (leg id, caller channel id): route its events
    detach: Callable[[str], None]


def new_leg_id() -> str:
    return f"{LEG_PREFIX}{uuid.uuid4().hex[:16]}"


def bridge_id(call_id: str) -> str:
    return f"{BRIDGE_PREFIX}{call_id}"


async def ring(
    channel: CallChannel,
    plan: LegPlan,
    leg: str,
    endpoint: str,
    ring_seconds: int,
    ringback: bool = True,
    stop: Callable[[Any], bool] | None = None,
    variables: Mapping[str, str] | None = None,
) -> tuple[RingOutcome, Any]:
    """Dial ``endpoint`` as channel ``leg`` (already attached to the call), with channel
    ``variables`` set before it is dialled (an outside leg's time limit). Returns the
    outcome, and the event that stopped the ringing if ``stop`` matched one (then the
    leg is still ringing: the caller decides). The caller hanging up raises
    ``CallerHungUp``; the leg is then the caller's to hang up."""
    ari = channel.ari
    tone = f"pb-ring-{leg}"
    if ringback:
        await quietly(channel.start_playback(tone, [RINGBACK]))
    try:
        await ari.originate(
            endpoint,
            plan.app,
            leg,
            app_args="leg",
            caller_id=channel.caller_number,
            timeout=ring_seconds,
            variables=variables,
        )
        event = await channel.wait_event(
            lambda e: (
                (e.about(leg) and e.type in ("StasisStart", *GONE_EVENTS))
                or (stop is not None and stop(e))
            ),
            ring_seconds + 5,
        )
        if not event.about(leg):
            return RingOutcome.NO_ANSWER, event
        if event.type == "StasisStart":
            return RingOutcome.ANSWERED, None
        cause = event.cause
        if cause == CAUSE_BUSY:
            return RingOutcome.BUSY, None
        if cause in CAUSE_NO_ANSWER:
            return RingOutcome.NO_ANSWER, None
        return RingOutcome.UNREACHABLE, None
    except AriError as exc:
        log.warning("cannot dial %s: %s", endpoint, exc.message)
        return RingOutcome.UNREACHABLE, None
    except TimeoutError:
        log.warning("%s neither answered nor gave up", endpoint)
        return RingOutcome.NO_ANSWER, None
    finally:
        if ringback:
            await quietly(ari.stop_playback(tone))


async def open_bridge(channel: CallChannel, bridge: str) -> None:
    """Put the caller in the call's own bridge, made unless it is there already (after
    a restart); from now on the caller hears what is played into it."""
    ari = channel.ari
    try:
        members = (await ari.bridge(bridge)).get("channels", [])
    except AriNotFound:
        await ari.create_bridge(bridge, CALL_BRIDGE_TYPE)
        members = []
    if channel.channel_id not in members:
        await ari.add_to_bridge(bridge, [channel.channel_id])
    channel.bridge = bridge


async def enter_bridge(call_id: str, channel: CallChannel, plan: LegPlan) -> None:
    """The caller into the call's own bridge (back into it after a restart), where they
    hear everything from now on and which is recorded; the bridge's events (prompts
    played into it) are the call's."""
    bridge = bridge_id(call_id)
    plan.attach(bridge, channel.channel_id)
    try:
        await open_bridge(channel, bridge)
    except AriNotFound:
        raise CallerHungUp from None
    except AriError as exc:  # the call still works, played to the channel, unrecorded
        log.error("call %s: no bridge for the call: %s", call_id, exc)


async def join(channel: CallChannel, leg: str, bridge: str) -> None:
    """The leg joins the caller in the call's bridge; keys pressed on either are events."""
    if channel.bridge is None:  # the call could not have its bridge at answer
        await open_bridge(channel, bridge)
    await channel.ari.add_to_bridge(channel.bridge or bridge, [leg])


async def converse(channel: CallChannel, leg: str) -> None:
    """Wait while caller and leg talk; returns when the leg hangs up. The caller hanging
    up raises ``CallerHungUp`` (the leg is then still up: the caller of this hangs it up
    unless the controller is stopping, when conversations stay for the next one)."""
    if await exists(channel, leg):  # after a restart it may have gone meanwhile
        await channel.wait_event(lambda e: e.about(leg) and e.type in GONE_EVENTS, None)


async def record_caller(
    channel: CallChannel, plan: LegPlan, name: str, max_seconds: int, max_silence: int
) -> float:
    """Record what the caller says into its own file (a voice message): a beep, then
    until ``#``, ``max_silence`` seconds of silence, ``max_seconds`` or a hang-up (which
    raises ``CallerHungUp``; the file is kept). Returns the length kept.

    ARI will not record a bridged channel, and the caller stays in the call's bridge so
    that the whole-call recording has the message too: a snoop on what the caller sends
    is recorded instead. It carries no keys, so ``#`` (an event in the bridge) stops it."""
    if channel.bridge is None:
        return await channel.record(name, max_seconds, max_silence)
    await channel.play([MESSAGE_BEEP], barge_in=False)
    ari = channel.ari
    snoop = new_leg_id()
    plan.attach(snoop, channel.channel_id)
    try:
        try:
            await ari.snoop(channel.channel_id, snoop, plan.app, spy="in")
        except AriNotFound:
            raise CallerHungUp from None
        await channel.wait_event(lambda e: e.about(snoop) and e.type == "StasisStart", 5)
        await ari.record(snoop, name, fmt="wav", max_duration=max_seconds, max_silence=max_silence)
        ended = recording_ended(name)
        event = await channel.wait_event(
            lambda e: ended(e) or (channel.is_key(e) and e.digit == "#"), max_seconds + 10
        )
        if not ended(event):  # the caller pressed #
            await quietly(ari.stop_recording(name))
            event = await channel.wait_event(ended, 10)
        return channel.recorded_seconds(event)
    finally:
        await shielded(hang_up_leg(channel, plan, snoop))


async def hang_up_leg(channel: CallChannel, plan: LegPlan, leg: str) -> None:
    await quietly(channel.ari.hangup(leg))
    plan.detach(leg)


async def exists(channel: CallChannel, channel_id: str) -> bool:
    try:
        await channel.ari.channel(channel_id)
    except AriNotFound:
        return False
    return True


async def quietly(action: Awaitable[Any]) -> None:
    """Clean-up that may find the thing already gone."""
    with contextlib.suppress(AriError):
        await action


async def shielded(action: Awaitable[Any], timeout: float = 5.0) -> None:
    """Clean-up that must finish even when the call's task is being cancelled."""
    with contextlib.suppress(AriError, TimeoutError):
        await asyncio.shield(asyncio.wait_for(quietly(action), timeout))
