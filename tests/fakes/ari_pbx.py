"""The fake PBX's behaviour: what happens to channels, bridges, playbacks and recordings,
and which events Asterisk sends about it, in Asterisk's order.

Nothing here knows about HTTP or asyncio: state changes at once (a request after a hang-up
finds the channel gone, as on a real PBX a moment later) and events go to ``emit``;
anything Asterisk does a moment *after* answering a request (a playback starting, a phone
answering) goes to ``defer``, which the owner runs after the event loop has turned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fakes.ari_model import (
    ASTERISK_ID,
    CAUSE_TEXT,
    MEDIA_SCHEMES,
    DialScript,
    FakeBridge,
    FakeChannel,
    FakePlayback,
    FakeRecording,
    Json,
    StoredRecording,
    timestamp,
)

Emit = Callable[[Json], None]
Defer = Callable[[Callable[[], None]], None]
CAUSE_NORMAL = 16


class Pbx:
    def __init__(self, app: str, emit: Emit, defer: Defer) -> None:
        self.app = app
        self.channels: dict[str, FakeChannel] = {}
        self.bridges: dict[str, FakeBridge] = {}
        self.playbacks: dict[str, FakePlayback] = {}
        self.queues: dict[str, list[str]] = {}  # target uri → playback ids; the head plays
        self.recordings: dict[str, FakeRecording] = {}  # live ones, by name
        self.stored: dict[str, StoredRecording] = {}
        self.globals: dict[str, str] = {}
        self.reloads: list[str] = []
        self.endpoints: dict[str, DialScript] = {}
        self.missing_media: set[str] = set()  # media URIs whose file "does not exist"
        self.auto_finish_playbacks = False
        self.recording_seconds = 5  # length of a recording ended by stop, key or hang-up
        self._emit = emit
        self._defer = defer
        self._tick = 0
        self._serial = 0

    # --- clocks and names -----------------------------------------------------------------
    def now(self) -> str:
        self._tick += 1
        return timestamp(self._tick)

    def serial(self) -> int:
        self._serial += 1
        return self._serial

    def new_channel(self, channel_id: str, name: str, state: str, **fields: Any) -> FakeChannel:
        channel = FakeChannel(id=channel_id, name=name, state=state, created=self.now(), **fields)
        self.channels[channel_id] = channel
        return channel

    # --- events ---------------------------------------------------------------------------
    def send(self, kind: str, fields: Json, audience: FakeChannel | None = None) -> Json:
        """Emit an event unless it is about a channel our application is not subscribed
        to; returns it either way."""
        event = {
            "type": kind,
            "timestamp": self.now(),
            "application": self.app,
            "asterisk_id": ASTERISK_ID,
            **fields,
        }
        if audience is None or audience.subscribed:
            self._emit(event)
        return event

    def channel_event(self, kind: str, channel: FakeChannel, **fields: Any) -> Json:
        return self.send(kind, {"channel": channel.json(), **fields}, channel)

    def _audience(self, target: str) -> FakeChannel | None:
        kind, _, target_id = target.partition(":")
        if kind != "channel":
            return None  # bridge media is reported to whoever owns the bridge: us
        return self.channels.get(target_id) or FakeChannel(target_id, "", "", "")

    # --- channels -------------------------------------------------------------------------
    def set_state(self, channel: FakeChannel, state: str) -> None:
        if channel.state != state:
            channel.state = state
            self.channel_event("ChannelStateChange", channel)

    def enter_stasis(self, channel: FakeChannel, args: list[str]) -> Json:
        channel.in_stasis = True
        channel.app_args = list(args)
        channel.app_name = "Stasis"
        channel.app_data = ",".join([self.app, *args])
        return self.channel_event("StasisStart", channel, args=list(args))

    def leave_stasis(self, channel: FakeChannel) -> None:
        """The channel goes back to the dialplan: its media stops, it leaves its bridge, and
        (a channel the dialplan gave us) we hear no more of it."""
        self.end_media(f"channel:{channel.id}", state="done")
        if channel.bridge is not None:
            self.leave_bridge(channel)
        channel.in_stasis = False
        self.channel_event("StasisEnd", channel)
        channel.subscribed = False

    def destroy(self, channel: FakeChannel, cause: int, soft: bool = False) -> None:
        """Hang-up as Asterisk reports it: the request, its media ending, leaving the bridge
        and Stasis, then the destruction with its cause; snoops on it go with it."""
        if self.channels.get(channel.id) is not channel:
            return
        request: Json = {"cause": cause}
        if soft:
            request["soft"] = True
        self.channel_event("ChannelHangupRequest", channel, **request)
        self.end_media(f"channel:{channel.id}", state="failed")
        if channel.bridge is not None:
            self.leave_bridge(channel)
        if channel.in_stasis:
            channel.in_stasis = False
            self.channel_event("StasisEnd", channel)
        cause_txt = CAUSE_TEXT.get(cause, "Unknown")
        self.channel_event("ChannelDestroyed", channel, cause=cause, cause_txt=cause_txt)
        del self.channels[channel.id]
        for snoop in [c for c in self.channels.values() if c.snoop_of == channel.id]:
            self.destroy(snoop, CAUSE_NORMAL)

    # --- placing calls --------------------------------------------------------------------
    def script_for(self, endpoint: str) -> DialScript:
        # An endpoint nobody configured cannot be dialled (Asterisk: 500 Allocation failed).
        return self.endpoints.get(endpoint, DialScript("unreachable"))

    def dial(self, channel: FakeChannel) -> None:
        """The phone starts ringing after the request returns, then does what it is scripted to."""
        script = self.script_for(channel.endpoint)

        def ringing() -> None:
            if self.channels.get(channel.id) is not channel or channel.state != "Down":
                return
            self.set_state(channel, "Ringing")
            if script.kind == "answer":
                self._defer(lambda: self.answer_leg(channel.id))
            elif script.kind == "reject":
                self._defer(lambda: self.reject_leg(channel.id, script.cause))

        self._defer(ringing)

    def answer_leg(self, channel_id: str) -> None:
        channel = self.channels.get(channel_id)
        if channel is None or channel.state not in ("Down", "Ringing"):
            return
        self.set_state(channel, "Up")
        if not channel.in_stasis:  # an originated leg enters the app when it answers
            self.enter_stasis(channel, channel.app_args)

    def reject_leg(self, channel_id: str, cause: int) -> None:
        channel = self.channels.get(channel_id)
        if channel is not None and channel.state != "Up":
            self.destroy(channel, cause)

    # --- bridges --------------------------------------------------------------------------
    def enter_bridge(self, channel: FakeChannel, bridge: FakeBridge) -> None:
        if channel.bridge is not None:  # Stasis departs the bridge it is in (even this one)
            self.leave_bridge(channel)
        channel.bridge = bridge.id
        bridge.members.append(channel.id)
        self.channel_event("ChannelEnteredBridge", channel, bridge=bridge.json())

    def leave_bridge(self, channel: FakeChannel) -> None:
        bridge = self.bridges.get(channel.bridge or "")
        channel.bridge = None
        if bridge is not None and channel.id in bridge.members:
            bridge.members.remove(channel.id)
            self.channel_event("ChannelLeftBridge", channel, bridge=bridge.json())

    def destroy_bridge(self, bridge: FakeBridge) -> None:
        """Its announcer and recorder go (ending bridge media), members leave, it is gone."""
        self.end_media(f"bridge:{bridge.id}", state="failed")
        for member in list(bridge.members):
            channel = self.channels.get(member)
            if channel is not None:
                self.leave_bridge(channel)
        del self.bridges[bridge.id]
        self.send("BridgeDestroyed", {"bridge": bridge.json()})

    # --- playbacks ------------------------------------------------------------------------
    def queue_playback(self, playback: FakePlayback) -> None:
        """Playbacks on one channel (or into one bridge) play one after another."""
        self.playbacks[playback.id] = playback
        queue = self.queues.setdefault(playback.target, [])
        queue.append(playback.id)
        if len(queue) == 1:
            self._defer(lambda: self._start_playback(playback))

    def _start_playback(self, playback: FakePlayback) -> None:
        queue = self.queues.get(playback.target, [])
        if self.playbacks.get(playback.id) is not playback or not queue or queue[0] != playback.id:
            return
        playback.state = "playing"
        self._playback_event("PlaybackStarted", playback)
        if any(not self.media_exists(m) for m in playback.media):
            self._defer(lambda: self.end_playback(playback, "failed"))
        elif self.auto_finish_playbacks:
            self._defer(lambda: self.end_playback(playback, "done"))

    def media_exists(self, media: str) -> bool:
        if media in self.missing_media or not media.startswith(MEDIA_SCHEMES):
            return False
        if media.startswith("recording:"):
            return media.removeprefix("recording:") in self.stored
        return True

    def end_playback(self, playback: FakePlayback, state: str) -> None:
        """It finished, failed or was stopped (all report PlaybackFinished); the next one
        queued on the same target starts."""
        if self.playbacks.get(playback.id) is not playback:
            return
        del self.playbacks[playback.id]
        queue = self.queues.get(playback.target, [])
        was_head = bool(queue) and queue[0] == playback.id
        if playback.id in queue:
            queue.remove(playback.id)
        if not queue:
            self.queues.pop(playback.target, None)
        playback.state = state
        self._playback_event("PlaybackFinished", playback)
        if was_head and queue:
            head = self.playbacks[queue[0]]
            self._defer(lambda: self._start_playback(head))

    def _playback_event(self, kind: str, playback: FakePlayback) -> None:
        self.send(kind, {"playback": playback.json()}, self._audience(playback.target))

    # --- recordings -----------------------------------------------------------------------
    def start_recording(self, recording: FakeRecording) -> None:
        self.recordings[recording.name] = recording

        def begin() -> None:
            if self.recordings.get(recording.name) is not recording:
                return
            kind, _, target_id = recording.target.partition(":")
            channel = self.channels.get(target_id) if kind == "channel" else None
            if channel is not None and channel.bridge is not None:
                self.fail_recording(recording, "Cannot record channel while in bridge")
                return
            if channel is not None and channel.state == "Ring":
                self.set_state(channel, "Up")  # recording answers the caller first
            recording.state = "recording"
            self._recording_event("RecordingStarted", recording)

        self._defer(begin)

    def end_recording(self, recording: FakeRecording, seconds: int) -> None:
        if self.recordings.get(recording.name) is not recording:
            return
        del self.recordings[recording.name]
        recording.state, recording.duration = "done", seconds
        self.stored[recording.name] = StoredRecording(recording.name, recording.format, seconds)
        self._recording_event("RecordingFinished", recording)

    def fail_recording(self, recording: FakeRecording, cause: str) -> None:
        if self.recordings.get(recording.name) is not recording:
            return
        del self.recordings[recording.name]
        recording.state, recording.cause = "failed", cause
        self._recording_event("RecordingFailed", recording)

    def _recording_event(self, kind: str, recording: FakeRecording) -> None:
        self.send(kind, {"recording": recording.json()}, self._audience(recording.target))

    def end_media(self, target: str, state: str) -> None:
        """What plays on or records ``target`` ends with it (queued playbacks are dropped
        unheard, as Asterisk flushes a dead channel's command queue)."""
        for playback_id in list(self.queues.get(target, [])):
            playback = self.playbacks[playback_id]
            if playback.state == "playing":
                self.end_playback(playback, state)
            else:
                self.playbacks.pop(playback_id, None)
                self.queues.get(target, []).remove(playback_id)
        self.queues.pop(target, None)
        for recording in [r for r in self.recordings.values() if r.target == target]:
            if recording.state == "recording":
                self.end_recording(recording, self.recording_seconds)
            else:
                del self.recordings[recording.name]

    # --- keys -----------------------------------------------------------------------------
    def dtmf(self, channel: FakeChannel, digit: str, duration_ms: int) -> None:
        """A key from the far end; a recording told to stop on it stops (the key is still
        reported, as Asterisk publishes every key it reads)."""
        self.channel_event("ChannelDtmfReceived", channel, digit=digit, duration_ms=duration_ms)
        for recording in list(self.recordings.values()):
            stops = recording.terminate_on == "any" or recording.terminate_on == digit
            if recording.target == f"channel:{channel.id}" and stops:
                if recording.state == "recording":
                    self.end_recording(recording, self.recording_seconds)
