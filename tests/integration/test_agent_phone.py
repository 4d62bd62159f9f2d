"""The harness's agent phones on the tester: the PBX dials them over SIP and they answer,
reject (busy) or ring forever, as the queueing tests will need."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from hotline.ari import Event
from tests.harness.tester import AriWatcher, Tester


async def dial_phone(probe: AriWatcher, extension: str, timeout: int) -> str:
    channel_id = f"agentleg-{uuid.uuid4().hex[:10]}"
    await probe.rest.originate(f"PJSIP/{extension}@carrier", probe.app, channel_id, timeout=timeout)
    return channel_id


def about(channel_id: str, kind: str) -> Callable[[Event], bool]:
    return lambda e: e.type == kind and e.channel is not None and e.channel.id == channel_id


async def test_phone_answers(pbx_probe: AriWatcher, tester: Tester) -> None:
    phone = tester.phone("1001", mode="answer")
    channel_id = await dial_phone(pbx_probe, "1001", timeout=10)
    await pbx_probe.wait_for(about(channel_id, "StasisStart"), 10, "answer")
    assert len(phone.calls) == 1
    await pbx_probe.rest.hangup(channel_id)


async def test_phone_rejects_as_busy(pbx_probe: AriWatcher, tester: Tester) -> None:
    phone = tester.phone("1002", mode="reject")
    # The PBX would give up ringing after 30 s: a rejection is well before that.
    channel_id = await dial_phone(pbx_probe, "1002", timeout=30)
    await phone.wait_rang(10)
    gone = await pbx_probe.log.wait_for(about(channel_id, "ChannelDestroyed"), 10, 0)
    assert gone is not None, f"not rejected within 10 s of ringing; tester: {tester.faults}"
    assert gone.cause == 17  # USER_BUSY, from SIP 486
    assert len(phone.calls) == 1


async def test_phone_that_never_answers_times_out(pbx_probe: AriWatcher, tester: Tester) -> None:
    phone = tester.phone("1003", mode="never")
    channel_id = await dial_phone(pbx_probe, "1003", timeout=3)
    gone = await pbx_probe.wait_for(about(channel_id, "ChannelDestroyed"), 10, "timeout")
    assert gone.cause == 19  # NO_ANSWER
    assert len(phone.calls) == 1
    assert not any(
        e.type == "StasisStart" and e.channel and e.channel.id == channel_id
        for e in pbx_probe.history
    )
