"""The plumbing of the fake PBX's REST surface: a request as its handler sees it, and the
look-ups every handler starts with, failing with the status and message Asterisk gives
(res/ari/resource_channels.c and resource_bridges.c), in Asterisk's order."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hotline.ari.errors import AriError, error_for_status
from tests.fakes.ari_model import FakeBridge, FakeChannel, FakePlayback, Json
from tests.fakes.ari_pbx import Pbx


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    ids: tuple[str, ...]  # the URL's {placeholders}, unquoted
    params: Mapping[str, str]
    body: Any

    def error(self, status: int, message: str) -> AriError:
        return error_for_status(status, message, self.method, self.path)

    def number(self, name: str, default: int = 0) -> int:
        return int(self.params.get(name, default))


Handler = Callable[[Call], Any]


class Lookups:
    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx

    # --- lookups, failing as Asterisk fails -----------------------------------------------
    def control(self, call: Call) -> FakeChannel:
        """A channel in our Stasis application (404 gone, 409 not in Stasis)."""
        channel = self.pbx.channels.get(call.ids[0])
        if channel is None:
            raise call.error(404, "Channel not found")
        if not channel.in_stasis:
            raise call.error(409, "Channel not in Stasis application")
        return channel

    def usable(self, call: Call) -> FakeChannel:
        """In Stasis and able to take media: not an unanswered channel we placed (412)."""
        channel = self.control(call)
        if channel.state in ("Down", "Reserved", "Ringing"):
            raise call.error(412, "Channel in invalid state")
        return channel

    def channel(self, call: Call, message: str = "Channel not found") -> FakeChannel:
        channel = self.pbx.channels.get(call.ids[0])
        if channel is None:
            raise call.error(404, message)
        return channel

    def bridge(self, call: Call) -> FakeBridge:
        bridge = self.pbx.bridges.get(call.ids[0])
        if bridge is None:
            raise call.error(404, "Bridge not found")
        return bridge

    def members(self, call: Call) -> list[FakeChannel]:
        names = [n for n in call.params.get("channel", "").split(",") if n]
        if not names:
            raise call.error(400, "Missing parameter channel")
        found = []
        for name in names:
            channel = self.pbx.channels.get(name)
            if channel is None:
                raise call.error(400, "Channel not found")
            if not channel.in_stasis:
                raise call.error(422, "Channel not in Stasis application")
            found.append(channel)
        return found

    def new_playback(self, call: Call, target: str, language: str) -> Json:
        playback_id = call.ids[1]
        media = [m for m in call.params.get("media", "").split(",") if m]
        if not media:
            raise call.error(400, "media is required")
        if playback_id in self.pbx.playbacks:
            # Not checked by Asterisk (the id would be ambiguous); the fake refuses it.
            raise call.error(409, f"playback id {playback_id} already in use (fake PBX)")
        playback = FakePlayback(playback_id, target, media, call.params.get("lang") or language)
        self.pbx.queue_playback(playback)
        return playback.json()
