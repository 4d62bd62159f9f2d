"""Typed configuration, loaded once and passed down.

Sources, later ones winning: built-in defaults < YAML file < environment variables
(``HOTLINE_<SECTION>_<KEY>``, e.g. ``HOTLINE_PBX_SIP_PORT=5160``). Every value is checked
at load time; an error names the key and where the bad value came from. Nothing below the
composition root reads ``os.environ``: ``load_config`` receives the environment as a mapping.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hotline.configfile import apply_env, build_section, read_yaml
from hotline.exposure import (
    SecurityConfig,
    ari_http_address,
    check_ari_listener,
    ip_address_problem,
)
from hotline.outbound import OutboundConfig

DEFAULT_MENU = Path(__file__).resolve().parents[1] / "ivr" / "default-menu.yaml"
DEFAULT_ACD = Path(__file__).resolve().parents[1] / "acd" / "default-acd.yaml"


def _port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "expected a port number 1-65535"


def _dial_template(value: str) -> str | None:
    return None if "{target}" in value else "must contain {target}, e.g. PJSIP/{target}"


def _local_time(value: str) -> str | None:
    if not value:
        return None
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return "expected a local time like 2026-10-01T10:00"
    return None


def _compression(value: str) -> str | None:
    return None if value in ("", "mp3", "ogg") else "mp3, ogg or empty (no compressed copy)"


def _nonempty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _at_least(least: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        return None if value >= least else f"must be at least {least}"

    return check


def _positive(value: float) -> str | None:
    return None if 0 < value < math.inf else "must be a number more than 0"


def _echo_every(value: float) -> str | None:
    return None if value == 0 or 5 <= value < math.inf else "must be 0 (off) or at least 5"


def _time_zone(value: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a folder of the zone database such as "Asia".
        return "expected an IANA time zone name like Asia/Shanghai"
    return None


def _check(fn: Callable[[Any], str | None]) -> dict[str, Any]:
    return {"check": fn}


@dataclass(frozen=True)
class ServiceConfig:
    """The hotline as callers know it (its numbers are in the menu file)."""

    name_zh: str = field(default="XX", metadata=_check(_nonempty))
    name_en: str = field(default="XX", metadata=_check(_nonempty))


@dataclass(frozen=True)
class PbxConfig:
    """The Asterisk container and its listeners."""

    container: str = field(default="hotline-pbx", metadata=_check(_nonempty))
    image: str = "localhost/hotline-asterisk:22"
    bind_address: str = "127.0.0.1"
    sip_port: int = field(default=5060, metadata=_check(_port))
    rtp_start: int = field(default=20000, metadata=_check(_port))
    rtp_end: int = field(default=20999, metadata=_check(_port))
    # Where carrier INVITEs come from (a PJSIP identify match: IP or CIDR).
    carrier_match: str = "127.0.0.1"
    # Where calls to outside numbers go (a SIP URI); empty means no outbound trunk.
    carrier_contact: str = ""
    # How the menu's transfer targets are dialled: agent:<ext> and outside:<number>.
    agent_dial: str = field(default="PJSIP/{target}", metadata=_check(_dial_template))
    outside_dial: str = field(default="PJSIP/{target}@carrier", metadata=_check(_dial_template))
    # Guard against a channel left in Stasis forever (TIMEOUT(absolute)).
    max_call_seconds: int = 3600
    ready_timeout: float = 60.0


@dataclass(frozen=True)
class AriConfig:
    """The PBX's HTTP/ARI listener and how the controller reaches it."""

    port: int = field(default=8088, metadata=_check(_port))
    # Loopback whatever pbx.bind_address says; another address needs TLS (PEM files), which
    # then listens there on tls_port, plain HTTP staying on 127.0.0.1 (hotline.exposure).
    bind_address: str = field(default="127.0.0.1", metadata=_check(ip_address_problem))
    tls_port: int = field(default=8089, metadata=_check(_port))
    tls_cert: Path = Path("")
    tls_key: Path = Path("")
    app: str = field(default="hotline", metadata=_check(_nonempty))
    username: str = field(default="hotline", metadata=_check(_nonempty))
    # Where the controller connects; empty means http://<ARI's plain HTTP address>:<port>.
    url: str = ""
    heartbeat: float = 5.0
    reconnect_max_delay: float = 10.0
    # How often the controller checks that its app still gets events (0: never).
    echo_every: float = field(default=15.0, metadata=_check(_echo_every))


@dataclass(frozen=True)
class HttpConfig:
    """The controller's own HTTP listener (health now; agent and supervisor API later)."""

    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=_check(_port))


@dataclass(frozen=True)
class MenuConfig:
    """The voice menu file (timeouts, tries and everything else are in the file)."""

    file: Path = DEFAULT_MENU
    # Reload when the file changes (checked every second); `hotline menu reload` always works.
    watch: bool = True
    # A fixed local start time for the menu's clock, e.g. "2026-10-01T10:00" in the menu's
    # time zone: to try holiday greetings and after-hours flows before the day comes.
    clock: str = field(default="", metadata=_check(_local_time))
    # Caller silence that ends a voice message, in seconds.
    message_silence: int = 5


@dataclass(frozen=True)
class AcdConfig:
    """Queues and agents (the file), and the agents' and supervisors' API."""

    file: Path = DEFAULT_ACD
    watch: bool = True
    # How long an API token lasts; a login may ask for less, never more.
    token_lifetime: float = 12 * 3600.0
    # Agents may transfer callers to outside numbers (R-4.8: off by default); the same as
    # agent in outbound.roles.
    outside_transfer: bool = False


@dataclass(frozen=True)
class RecordingsConfig:
    """Whole-call recording (R-5) and its store."""

    enabled: bool = True
    # Where recordings are kept; empty means state_dir/recordings.
    store_dir: Path = Path("")
    # Recordings older than this many days are deleted by the daily purge (and
    # `hotline recordings purge`); nothing younger is ever deleted.
    retention_days: int = field(default=180, metadata=_check(_at_least(1)))
    # The store's disk budget in MB (0: no limit). A recording that would go over it
    # stays on the PBX, is counted as a failure in /metrics, and is retried later.
    max_store_mb: int = field(default=0, metadata=_check(_at_least(0)))
    # Also keep a compressed copy (mp3 or ogg, through pydub and ffmpeg); empty: none.
    compress: str = field(default="", metadata=_check(_compression))
    # How often recordings that could not be stored are tried again, in seconds.
    retry_seconds: float = 60.0


@dataclass(frozen=True)
class SurveyConfig:
    """The post-call satisfaction survey (R-6)."""

    enabled: bool = True
    # Seconds the caller has to press a key after the prompt.
    timeout: float = 8.0


@dataclass(frozen=True)
class ReportsConfig:
    """Call-centre KPIs (R-8)."""

    # Answered within this many seconds counts towards the service level.
    service_level_seconds: float = field(default=20.0, metadata=_check(_positive))
    # The time zone of the hour, day and month buckets.
    timezone: str = field(default="Asia/Shanghai", metadata=_check(_time_zone))


@dataclass(frozen=True)
class WatchmanConfig:
    """While the controller is gone: `hotline run`, `hotline watch` (hotline.watchman)."""

    # Callers held by a controller whose /health has not answered for `grace` seconds
    # (asked every `every` seconds) go to the dialplan fallback.
    grace: float = field(default=5.0, metadata=_check(_positive))
    every: float = field(default=1.0, metadata=_check(_positive))
    # `hotline run` starts a dead controller again at most `restarts` times in any
    # `restart_window` seconds (hotline.keeper).
    restarts: int = field(default=5, metadata=_check(_at_least(0)))
    restart_window: float = field(default=600.0, metadata=_check(_positive))


@dataclass(frozen=True)
class FallbackConfig:
    """The FastAGI fallback (`hotline fallback`, dialplan.service): what the PBX's
    dialplan asks while the controller is away."""

    # FastAGI: where the PBX's dialplan connects (it runs on the host network).
    host: str = "127.0.0.1"
    port: int = field(default=4573, metadata=_check(_port))
    # Its own /health and /metrics.
    http_port: int = field(default=8082, metadata=_check(_port))
    # The dialplan waits this long for an answer, then serves the caller without it.
    request_timeout: float = field(default=1.5, metadata=_check(_positive))
    # A fallback queue rings its agents' phones this long per round, and after
    # max_wait seconds in all the caller is offered a voice message.
    ring_seconds: int = field(default=20, metadata=_check(_at_least(5)))
    max_wait: int = field(default=120, metadata=_check(_at_least(10)))


@dataclass(frozen=True)
class Config:
    service: ServiceConfig = field(default_factory=ServiceConfig)
    pbx: PbxConfig = field(default_factory=PbxConfig)
    ari: AriConfig = field(default_factory=AriConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    menu: MenuConfig = field(default_factory=MenuConfig)
    acd: AcdConfig = field(default_factory=AcdConfig)
    outbound: OutboundConfig = field(default_factory=OutboundConfig)
    recordings: RecordingsConfig = field(default_factory=RecordingsConfig)
    survey: SurveyConfig = field(default_factory=SurveyConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    watchman: WatchmanConfig = field(default_factory=WatchmanConfig)
    fallback: FallbackConfig = field(default_factory=FallbackConfig)
    security: SecurityConfig = field(default_factory=SecurityConfig)
    # Secrets, database, generated PBX configuration, prompt audio, recordings.
    state_dir: Path = Path("var")
    # Empty means sqlite under state_dir.
    database_url: str = ""

    @property
    def ari_url(self) -> str:
        host = ari_http_address(self.ari)
        return self.ari.url or f"http://{f'[{host}]' if ':' in host else host}:{self.ari.port}"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.state_dir / 'hotline.db'}"

    @property
    def prompts_dir(self) -> Path:
        return self.state_dir / "prompts"

    @property
    def pbx_dir(self) -> Path:
        """The PBX container's state: generated configuration, logs, recordings."""
        return self.state_dir / "pbx"

    @property
    def recordings_store(self) -> Path:
        """Where whole-call recordings are kept (recordings.store_dir)."""
        store = self.recordings.store_dir
        return store if str(store) not in ("", ".") else self.state_dir / "recordings"

    @property
    def fallback_dir(self) -> Path:
        """What the controller leaves for the FastAGI fallback (its snapshot)."""
        return self.state_dir / "fallback"

    @property
    def recordings_dir(self) -> Path:
        """Where the PBX writes recordings (the container's recording directory)."""
        return self.pbx_dir / "recordings"


def load_config(path: Path | None, environ: Mapping[str, str]) -> Config:
    """Build the configuration from a YAML file (optional) and the environment."""
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        raw = read_yaml(path)
    config: Config = apply_env(build_section(Config, raw, prefix="", source=source), environ)
    check_ari_listener(config.ari)
    return config
