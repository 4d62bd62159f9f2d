"""The harness itself: what a caller plays reaches the PBX as sound."""

from __future__ import annotations

from tests.harness.db import call_for
from tests.harness.stack import Stack
from tests.harness.tester import AriWatcher, Tester


async def test_caller_audio_is_heard_by_the_pbx(
    controller: Stack, tester: Tester, pbx_probe: AriWatcher
) -> None:
    caller = await tester.call("4008001234", caller_id="13700137005")
    record = await call_for(controller, "13700137005", timeout=5)
    channel = record.channel_id
    await pbx_probe.rest.request(
        "POST", f"/applications/{pbx_probe.app}/subscription", {"eventSource": f"channel:{channel}"}
    )
    await pbx_probe.rest.set_variable(channel, "TALK_DETECT(set)", "500,200")
    mark = len(pbx_probe.history)
    await caller.play(controller.prompt("goodbye", "en"))  # speech, sent over RTP
    talk = await pbx_probe.wait_for(
        lambda e: (
            e.type == "ChannelTalkingStarted" and e.channel is not None and e.channel.id == channel
        ),
        5,
        "talking on the PBX side",
        since=mark,
    )
    assert talk.channel is not None
    await caller.hangup()
