"""What the fake PBX keeps about channels, bridges, playbacks and recordings, rendered as
the JSON Asterisk 22 sends, plus the small records a test reads (requests, failures).

Field names and values follow Asterisk's own ARI code (res/ari/resource_*.c and
res_stasis_*.c), so production code parsing them with ``hotline.ari.models`` sees what it
would see from a real PBX.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from hotline.ari.errors import AriError

Json = dict[str, Any]

ASTERISK_ID = "02:42:ac:11:00:02"
# Q.850 causes as Asterisk names them in ChannelDestroyed.cause_txt.
CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    26: "Answered elsewhere",
    28: "Invalid number format (addr incomplete)",
    31: "Normal, unspecified",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    58: "Bearer capability not available",
    127: "Interworking, unspecified",
}
# DELETE /channels/{id}?reason=... → the cause the channel is hung up with.
HANGUP_REASONS = {
    "normal": 16,
    "busy": 17,
    "congestion": 34,
    "no_answer": 19,
    "timeout": 19,
    "rejected": 21,
    "unallocated": 1,
    "normal_unspecified": 31,
    "number_incomplete": 28,
    "codec_mismatch": 58,
    "interworking": 127,
    "failure": 38,
    "answered_elsewhere": 26,
}
MEDIA_SCHEMES = ("sound:", "recording:", "number:", "digits:", "characters:", "tone:")
RECORDING_FORMATS = frozenset(
    {"wav", "wav16", "WAV", "gsm", "sln", "sln16", "ulaw", "alaw", "g722"}
)
BRIDGE_TYPES = frozenset(
    {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label"}
)
DIRECTIONS = {"in": {"in"}, "out": {"out"}, "both": {"in", "out"}}
_EPOCH = datetime(2026, 11, 22, 8, 30, tzinfo=UTC)


def timestamp(tick: int) -> str:
    """A deterministic Asterisk-style timestamp, ``tick`` milliseconds after a fixed epoch."""
    moment = _EPOCH + timedelta(milliseconds=tick)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


@dataclass
class FakeChannel:
    id: str
    name: str
    state: str  # Ring (inbound, unanswered), Down/Ringing (placed by us), Up
    created: str
    caller_number: str = ""
    caller_name: str = ""
    context: str = ""
    exten: str = ""
    priority: int = 1
    app_name: str = ""
    app_data: str = ""
    language: str = "en"
    endpoint: str = ""  # what was dialled, for channels placed over ARI
    in_stasis: bool = False
    subscribed: bool = False  # our application gets this channel's events
    app_args: list[str] = field(default_factory=list)
    bridge: str | None = None
    snoop_of: str | None = None
    spy: str = "none"
    whisper: str = "none"
    moh: str | None = None  # the class playing to this channel alone
    muted: set[str] = field(default_factory=set)
    variables: dict[str, str] = field(default_factory=dict)
    sent_dtmf: list[str] = field(default_factory=list)
    ringing_indicated: bool = False

    def json(self) -> Json:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": "",
            "caller": {"name": self.caller_name, "number": self.caller_number},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {
                "context": self.context,
                "exten": self.exten,
                "priority": self.priority,
                "app_name": self.app_name,
                "app_data": self.app_data,
            },
            "creationtime": self.created,
            "language": self.language,
        }

    def describe(self) -> str:
        if self.snoop_of is not None:
            return f"snoop {self.id} on {self.snoop_of} (spy={self.spy}, whisper={self.whisper})"
        if self.in_stasis:
            where = "in Stasis"
        elif self.endpoint and self.state != "Up":
            where = f"dialling {self.endpoint}"
        else:
            where = f"in dialplan at {self.location()}"
        bridged = f", in bridge {self.bridge}" if self.bridge else ""
        return f"channel {self.id} ({self.name}, {self.state}, {where}{bridged})"

    def location(self) -> str:
        return f"{self.context},{self.exten},{self.priority}"


@dataclass
class FakeBridge:
    id: str
    kinds: list[str]
    created: str
    members: list[str] = field(default_factory=list)
    moh: str | None = None

    def json(self) -> Json:
        return {
            "id": self.id,
            "technology": "softmix" if "mixing" in self.kinds else "holding_bridge",
            "bridge_type": "holding" if "holding" in self.kinds else "mixing",
            "bridge_class": "stasis",
            "creator": "Stasis",
            "name": "",
            "channels": list(self.members),
            "video_mode": "sfu" if "video_sfu" in self.kinds else "talker",
            "creationtime": self.created,
        }

    def describe(self) -> str:
        members = ", ".join(self.members) if self.members else "no channels"
        return f"bridge {self.id} ({','.join(self.kinds)}) with {members}"


@dataclass
class FakePlayback:
    id: str
    target: str  # "channel:<id>" or "bridge:<id>"
    media: list[str]
    language: str = "en"
    state: str = "queued"  # queued, playing, done, failed

    def json(self) -> Json:
        return {
            "id": self.id,
            "media_uri": self.media[0] if self.media else "",
            "media_uris": list(self.media),
            "target_uri": self.target,
            "language": self.language,
            "state": self.state,
        }

    def describe(self) -> str:
        return f"playback {self.id} of {','.join(self.media)} on {self.target} ({self.state})"


@dataclass
class FakeRecording:
    name: str
    target: str
    format: str
    terminate_on: str = "none"
    max_silence: int = 0
    state: str = "queued"  # queued, recording, done, failed
    duration: int | None = None
    cause: str = ""

    def json(self) -> Json:
        data: Json = {
            "name": self.name,
            "format": self.format,
            "state": self.state,
            "target_uri": self.target,
        }
        if self.duration is not None:
            data["duration"] = self.duration
            if self.max_silence:  # Asterisk only measures talk time when asked to stop on silence
                data["talking_duration"] = self.duration
                data["silence_duration"] = 0
        if self.cause:
            data["cause"] = self.cause
        return data

    def describe(self) -> str:
        return f"recording {self.name} ({self.format}) of {self.target} ({self.state})"


@dataclass
class StoredRecording:
    name: str
    format: str
    seconds: int
    audio: bytes | None = None  # None: a silent file of ``seconds`` when downloaded

    def json(self) -> Json:
        return {"name": self.name, "format": self.format}


@dataclass(frozen=True)
class DialScript:
    """What an endpoint does when dialled: answer, reject with a cause, ring until the test
    decides, or cannot even be dialled (Asterisk's "Allocation failed")."""

    kind: str  # answer, reject, ring, unreachable
    cause: int = 0


@dataclass(frozen=True)
class Request:
    """One REST request as the fake PBX received it (params as sent on the wire)."""

    method: str
    path: str
    params: dict[str, str]
    body: Any = None

    def matches(self, method: str, template: str) -> bool:
        return method in ("*", self.method) and path_matches(template, self.path)


@dataclass
class Failure:
    """A rule making matching requests fail: ``times`` more of them (None: all of them).
    With ``applied`` the PBX acts on the request and only the answer is lost."""

    method: str
    template: str
    error: AriError | int
    times: int | None = 1
    applied: bool = False
    hits: int = 0

    def catches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return self.method in ("*", method) and path_matches(self.template, path)


def path_matches(template: str, path: str) -> bool:
    """``/channels/{id}/play/{playback}``-style templates: ``{...}`` is any one segment;
    other segments compare after URL-unquoting, so ids may be written either way."""
    want = template.strip("/").split("/")
    got = path.split("?", 1)[0].strip("/").split("/")
    if len(want) != len(got):
        return False
    return all(
        (w.startswith("{") and w.endswith("}")) or unquote(w) == unquote(g)
        for w, g in zip(want, got, strict=True)
    )


def caller_id(raw: str) -> tuple[str, str]:
    """``"Name" <number>`` or a bare number → (name, number), as ast_callerid_parse does."""
    raw = raw.strip()
    if "<" in raw and raw.endswith(">"):
        name, number = raw[:-1].split("<", 1)
        return name.strip().strip('"'), number.strip()
    return "", raw
