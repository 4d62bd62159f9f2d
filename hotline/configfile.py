"""Reading settings into typed, frozen dataclasses: a YAML file, then the environment.

Generic over the dataclasses of hotline.config: every leaf is coerced to its annotated
type and checked by the ``check`` in its field's metadata; an unknown key is refused with
the nearest known one suggested. Errors name the source (file or "environment") and the
dotted key.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from hotline.errors import ConfigError

ENV_PREFIX = "HOTLINE_"
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
if TYPE_CHECKING:
    from _typeshed import DataclassInstance

C = TypeVar("C", bound="DataclassInstance")


def read_yaml(path: Path) -> dict[str, Any]:
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


def build_section(cls: type[Any], raw: Mapping[str, Any], prefix: str, source: str) -> Any:
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
            values[name] = build_section(typing.cast(type[Any], hint), sub, key + ".", source)
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


def apply_env(config: C, environ: Mapping[str, str]) -> C:
    """Override any leaf setting with HOTLINE_<SECTION>_<KEY> (or HOTLINE_<KEY> at top)."""
    overrides: dict[str, Any] = {}
    known = _env_names(type(config), "")
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
            built = build_section(type(current), merged, section + ".", "environment")
            config = dataclasses.replace(config, **{section: built})
        else:
            top = build_section(type(config), values, "", "environment")
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
