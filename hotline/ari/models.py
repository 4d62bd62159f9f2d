"""Typed views of the ARI objects and events this service uses (Asterisk 22 schema)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Channel:
    id: str
    name: str = ""
    state: str = ""
    caller_number: str = ""
    caller_name: str = ""
    exten: str = ""
    context: str = ""
    language: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Channel:
        caller = data.get("caller") or {}
        dialplan = data.get("dialplan") or {}
        return cls(
            id=data["id"],
            name=data.get("name", ""),
            state=data.get("state", ""),
            caller_number=caller.get("number", ""),
            caller_name=caller.get("name", ""),
            exten=dialplan.get("exten", ""),
            context=dialplan.get("context", ""),
            language=data.get("language", ""),
        )


@dataclass(frozen=True)
class Playback:
    id: str
    state: str
    target_uri: str = ""
    media_uri: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Playback:
        return cls(
            id=data["id"],
            state=data.get("state", ""),
            target_uri=data.get("target_uri", ""),
            media_uri=data.get("media_uri", ""),
        )


@dataclass(frozen=True)
class LiveRecording:
    name: str
    state: str
    target_uri: str = ""
    format: str = ""
    duration: int | None = None
    cause: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LiveRecording:
        return cls(
            name=data["name"],
            state=data.get("state", ""),
            target_uri=data.get("target_uri", ""),
            format=data.get("format", ""),
            duration=data.get("duration"),
            cause=data.get("cause", ""),
        )


@dataclass(frozen=True)
class Application:
    name: str
    channel_ids: list[str]
    bridge_ids: list[str]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Application:
        return cls(
            name=data["name"],
            channel_ids=list(data.get("channel_ids", [])),
            bridge_ids=list(data.get("bridge_ids", [])),
        )


@dataclass(frozen=True)
class Event:
    """One message from the event websocket. ``raw`` keeps every field."""

    type: str
    raw: dict[str, Any] = field(repr=False)

    @property
    def channel(self) -> Channel | None:
        data = self.raw.get("channel")
        return Channel.from_json(data) if data else None

    @property
    def playback(self) -> Playback | None:
        data = self.raw.get("playback")
        return Playback.from_json(data) if data else None

    @property
    def recording(self) -> LiveRecording | None:
        data = self.raw.get("recording")
        return LiveRecording.from_json(data) if data else None

    @property
    def digit(self) -> str:
        return str(self.raw.get("digit", ""))

    @property
    def args(self) -> list[str]:
        return [str(a) for a in self.raw.get("args", [])]

    @property
    def cause(self) -> int:
        return int(self.raw.get("cause", 0) or 0)

    def about(self, channel_id: str) -> bool:
        """The event's own channel is ``channel_id``."""
        data = self.raw.get("channel")
        return isinstance(data, dict) and data.get("id") == channel_id

    def channel_ids(self) -> list[str]:
        """Every channel this event concerns, for routing to per-call tasks (and the
        bridge a playback or recording plays into or records)."""
        ids: list[str] = []
        for key in ("channel", "peer", "caller"):
            data = self.raw.get(key)
            if isinstance(data, dict) and "id" in data:
                ids.append(data["id"])
        for key in ("playback", "recording"):
            target = (self.raw.get(key) or {}).get("target_uri", "")
            if target.startswith("channel:"):
                ids.append(target.removeprefix("channel:"))
            elif target.startswith("bridge:"):  # a call's bridge is routed like a leg
                ids.append(target.removeprefix("bridge:"))
        return ids

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(type=str(data.get("type", "")), raw=data)
