"""Typed configuration, loaded once and passed down.

Sources, later ones winning: built-in defaults < YAML file < environment variables
(``HOTLINE_<SECTION>_<KEY>``, e.g. ``HOTLINE_PBX_SIP_PORT=5160``). Every value is checked
at load time; an error names the key and where the bad value came from. Nothing below the
composition root reads ``os.environ``: ``load_config`` receives the environment as a mapping.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import math
import typing
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hotline.errors import ConfigError
from hotline.exposure import (
    SecurityConfig,
    ari_http_address,
    check_ari_listener,
    ip_address_problem,
)

ENV_PREFIX = "HOTLINE_"
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
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
    # Agents may transfer callers to outside numbers (R-4.8: off by default).
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
class Config:
    service: ServiceConfig = field(default_factory=ServiceConfig)
    pbx: PbxConfig = field(default_factory=PbxConfig)
    ari: AriConfig = field(default_factory=AriConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    menu: MenuConfig = field(default_factory=MenuConfig)
    acd: AcdConfig = field(default_factory=AcdConfig)
    recordings: RecordingsConfig = field(default_factory=RecordingsConfig)
    survey: SurveyConfig = field(default_factory=SurveyConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
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
    def recordings_dir(self) -> Path:
        """Where the PBX writes recordings (the container's recording directory)."""
        return self.pbx_dir / "recordings"


def load_config(path: Path | None, environ: Mapping[str, str]) -> Config:
    """Build the configuration from a YAML file (optional) and the environment."""
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        raw = _read_yaml(path)
    config = _apply_env(_build(Config, raw, prefix="", source=source), environ)
    check_ari_listener(config.ari)
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def _build(cls: type[Any], raw: Mapping[str, Any], prefix: str, source: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    for key in raw:
        if key not in fields:
            hint = difflib.get_close_matches(str(key), fields, n=1)
            suggestion = f" (did you mean '{prefix}{hint[0]}'?)" if hint else ""
            raise ConfigError(f"{source}: unknown key '{prefix}{key}'{suggestion}")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in raw:
            continue
        key = prefix + name
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            sub = raw[name]
            if not isinstance(sub, dict):
                raise ConfigError(f"{source}: key '{key}': expected a mapping of settings")
            values[name] = _build(typing.cast(type[Any], hint), sub, key + ".", source)
        else:
            values[name] = _coerce(raw[name], hint, f, key, source)
    return cls(**values)


def _coerce(value: Any, hint: Any, f: dataclasses.Field[Any], key: str, source: str) -> Any:
    def fail(why: str) -> ConfigError:
        return ConfigError(f"{source}: key '{key}': {why}, got {value!r}")

    if hint is bool:
        if isinstance(value, str) and value.lower() in (*TRUE_WORDS, *FALSE_WORDS):
            value = value.lower() in TRUE_WORDS
        if not isinstance(value, bool):
            raise fail("expected true or false")
    elif hint is int:
        try:
            if isinstance(value, bool) or isinstance(value, float):
                raise ValueError
            value = int(value)
        except (TypeError, ValueError):
            raise fail("expected an integer") from None
    elif hint is float:
        try:
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
        except (TypeError, ValueError):
            raise fail("expected a number") from None
    elif hint is str:
        if not isinstance(value, str | int):
            raise fail("expected a string")
        value = str(value)
    elif hint is Path:
        if not isinstance(value, str | Path):
            raise fail("expected a path")
        value = Path(value)
    elif typing.get_origin(hint) is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            raise fail("expected a list of strings")
        value = [str(v) for v in value]
    check = f.metadata.get("check")
    problem = check(value) if check else None
    if problem:
        raise fail(problem)
    return value


def _apply_env(config: Config, environ: Mapping[str, str]) -> Config:
    """Override any leaf setting with HOTLINE_<SECTION>_<KEY> (or HOTLINE_<KEY> at top)."""
    overrides: dict[str, Any] = {}
    known = _env_names(Config, "")
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX) or var in ("HOTLINE_CONFIG",):
            continue
        dotted = known.get(var)
        if dotted is None:
            hint = difflib.get_close_matches(var, known, n=1)
            suggestion = f" (did you mean {hint[0]}?)" if hint else ""
            raise ConfigError(f"environment: unknown setting {var}{suggestion}")
        section, _, leaf = dotted.rpartition(".")
        overrides.setdefault(section, {})[leaf] = value
    for section, values in overrides.items():
        if section:
            current = getattr(config, section)
            merged = {**_as_raw(current), **values}
            built = _build(type(current), merged, section + ".", "environment")
            config = dataclasses.replace(config, **{section: built})
        else:
            top = _build(Config, values, "", "environment")
            config = dataclasses.replace(config, **{k: getattr(top, k) for k in values})
    return config


def _env_names(cls: type[Any], prefix: str) -> dict[str, str]:
    names: dict[str, str] = {}
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(hint):
            names.update(_env_names(typing.cast(type[Any], hint), prefix + f.name + "."))
        else:
            dotted = prefix + f.name
            names[ENV_PREFIX + dotted.replace(".", "_").upper()] = dotted
    return names


def _as_raw(section: Any) -> dict[str, Any]:
    return {f.name: getattr(section, f.name) for f in dataclasses.fields(section)}
