"""The fake PBX's answers to /bridges, /playbacks and /recordings requests, and to
recording a channel (checked as Asterisk checks a bridge recording, so it lives here)."""

from __future__ import annotations

import io
import wave

from tests.fakes.ari_lookups import Call, Lookups
from tests.fakes.ari_model import (
    BRIDGE_TYPES,
    RECORDING_FORMATS,
    FakeBridge,
    FakePlayback,
    FakeRecording,
    Json,
)


class MediaRoutes(Lookups):
    def record(self, call: Call) -> Json:
        """Channel or bridge recording; the checks run in Asterisk's order."""
        for name in ("maxDurationSeconds", "maxSilenceSeconds"):
            if call.number(name) < 0:
                raise call.error(400, f"{name} cannot be negative")
        if call.path.startswith("/bridges/"):
            target = f"bridge:{self.bridge(call).id}"
        else:
            target = f"channel:{self.control(call).id}"
        terminate_on = call.params.get("terminateOn") or "none"
        if terminate_on not in ("none", "any", "#", "*"):
            raise call.error(400, "terminateOn invalid")
        if_exists = call.params.get("ifExists") or "fail"
        if if_exists not in ("fail", "overwrite", "append"):
            raise call.error(400, "ifExists invalid")
        fmt, name = call.params.get("format", ""), call.params.get("name", "")
        if fmt not in RECORDING_FORMATS:
            raise call.error(422, "specified format is unknown on this system")
        if not name:
            raise call.error(500, "Error parsing request")
        exists = if_exists == "fail" and name in self.pbx.stored
        if exists or name in self.pbx.recordings:
            raise call.error(409, f"Recording '{name}' already exists and can not be overwritten")
        recording = FakeRecording(
            name, target, fmt, terminate_on, max_silence=call.number("maxSilenceSeconds")
        )
        self.pbx.start_recording(recording)
        return recording.json()

    # --- bridges --------------------------------------------------------------------------
    def list_bridges(self, call: Call) -> list[Json]:
        return [b.json() for b in self.pbx.bridges.values()]

    def get_bridge(self, call: Call) -> Json:
        return self.bridge(call).json()

    def create_bridge(self, call: Call) -> Json:
        bridge_id = call.ids[0]
        if bridge_id in self.pbx.bridges:
            raise call.error(409, f"Bridge with id '{bridge_id}' already exists")
        kinds = [k for k in (call.params.get("type") or "mixing").split(",") if k]
        if not set(kinds) <= BRIDGE_TYPES:
            raise call.error(500, "Unable to create bridge")
        bridge = FakeBridge(bridge_id, kinds, self.pbx.now())
        self.pbx.bridges[bridge_id] = bridge
        return bridge.json()

    def destroy_bridge(self, call: Call) -> None:
        self.pbx.destroy_bridge(self.bridge(call))

    def add_channels(self, call: Call) -> None:
        bridge = self.bridge(call)
        for channel in self.members(call):
            recording = f"channel:{channel.id}"
            if any(r.target == recording for r in self.pbx.recordings.values()):
                raise call.error(409, f"Channel {channel.id} currently recording")
            self.pbx.enter_bridge(channel, bridge)

    def remove_channels(self, call: Call) -> None:
        bridge = self.bridge(call)
        channels = self.members(call)
        if any(c.bridge != bridge.id for c in channels):
            raise call.error(422, "Channel not in this bridge")
        for channel in channels:
            self.pbx.leave_bridge(channel)

    def play_to_bridge(self, call: Call) -> Json:
        return self.new_playback(call, f"bridge:{self.bridge(call).id}", "en")

    def bridge_moh(self, call: Call) -> None:
        bridge = self.bridge(call)
        if call.method == "POST":
            bridge.moh = call.params.get("mohClass") or "default"
        elif bridge.moh is None:
            raise call.error(409, "Bridge isn't playing music")
        else:
            bridge.moh = None

    # --- playbacks and recordings ---------------------------------------------------------
    def _playback(self, call: Call) -> FakePlayback:
        playback = self.pbx.playbacks.get(call.ids[0])
        if playback is None:
            raise call.error(404, "Playback not found")
        return playback

    def get_playback(self, call: Call) -> Json:
        return self._playback(call).json()

    def stop_playback(self, call: Call) -> None:
        self.pbx.end_playback(self._playback(call), "done")

    def _live(self, call: Call) -> FakeRecording:
        recording = self.pbx.recordings.get(call.ids[0])
        if recording is None:
            raise call.error(404, "Recording not found")
        return recording

    def get_live(self, call: Call) -> Json:
        return self._live(call).json()

    def stop_recording(self, call: Call) -> None:
        self.pbx.end_recording(self._live(call), self.pbx.recording_seconds)

    def _stored(self, call: Call) -> Json:
        stored = self.pbx.stored.get(call.ids[0])
        if stored is None:
            raise call.error(404, "Recording not found")
        return stored.json()

    def get_stored(self, call: Call) -> Json:
        return self._stored(call)

    def delete_stored(self, call: Call) -> None:
        self._stored(call)
        del self.pbx.stored[call.ids[0]]

    def stored_file(self, call: Call) -> bytes:
        self._stored(call)
        stored = self.pbx.stored[call.ids[0]]
        return stored.audio if stored.audio is not None else silent_wav(stored.seconds)


def silent_wav(seconds: int) -> bytes:
    """A valid 8 kHz 16-bit mono wav of silence, what a quiet caller leaves."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x00" * 8000 * max(seconds, 0))
    return out.getvalue()
