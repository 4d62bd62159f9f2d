"""ACD YAML -> ``AcdSetup``, checked field by field. Errors name file, line and key."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from acd import model
from hotline.numbers import written
from hotline.yamldoc import DocumentError, Fields, KeyPath, Source, parse_source, read_source

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
NUMBER = re.compile(r"^[0-9]{1,20}$")
EXTENSION = re.compile(r"[0-9]{1,20}")  # ASCII digits only (str.isdigit takes any script's)
LANGUAGES = ("zh", "en")


class AcdError(DocumentError):
    """The ACD file is invalid."""

    error_id = "invalid-acd"


def load_acd(path: Path) -> model.AcdSetup:
    return build_acd(read_source(path, AcdError))


def parse_acd(path: Path, text: str) -> model.AcdSetup:
    return build_acd(parse_source(path, text, AcdError))


def build_acd(source: Source) -> model.AcdSetup:
    top = Fields(source, (), source.data)
    settings = Fields(source, ("settings",), top.get("settings", dict, {}))
    regions = _regions(source, top.get("regions", dict, {}))
    defaults = Fields(source, ("queue_defaults",), top.get("queue_defaults", dict, {}))
    base = _queue_settings(defaults, None)
    defaults.done()
    queues = {
        name: _queue(source, name, raw, base)
        for name, raw in _named(source, ("queues",), top.get("queues", dict)).items()
    }
    if not queues:
        raise source.error(("queues",), "at least one queue is needed")
    for name, queue in queues.items():
        if queue.overflow and queue.overflow not in queues:
            raise source.error(("queues", name, "overflow"), f"no queue named '{queue.overflow}'")
        if queue.overflow == name:
            raise source.error(("queues", name, "overflow"), "a queue cannot overflow to itself")
    agents = {
        number: _agent(source, number, raw, regions)
        for number, raw in _numbered(source, ("agents",), top.get("agents", dict, {})).items()
    }
    _check_own_desks(source, agents)
    vip = frozenset(_numbers(source, ("vip",), top.get("vip", list, [])))
    owners = _agent_map(source, ("owners",), top.get("owners", dict, {}), agents)
    pinned = _agent_map(source, ("pinned",), top.get("pinned", dict, {}), agents)
    setup = model.AcdSetup(
        path=str(source.path),
        version=hashlib.sha256(repr(source.data).encode()).hexdigest()[:12],
        agents=agents,
        queues=queues,
        vip=vip,
        owners=owners,
        pinned=pinned,
        regions=regions,
        vip_boost=settings.integer("vip_boost", 3, 0, 9),
        ageing_seconds=settings.number("ageing_seconds", 60.0, 1, 3600),
    )
    settings.done()
    top.done()
    return setup


def _named(source: Source, key: KeyPath, raw: dict[str, Any]) -> dict[str, Any]:
    for name in raw:
        if not NAME.match(str(name)):
            raise source.error((*key, str(name)), "names are lower-case letters, digits, - and _")
    return raw


def _numbered(source: Source, key: KeyPath, raw: dict[Any, Any]) -> dict[str, Any]:
    for number in raw:
        if not NUMBER.match(str(number)):
            raise source.error((*key, str(number)), 'expected digits (quote it: "1001")')
    return {str(k): v for k, v in raw.items()}


def _phone(source: Source, key: KeyPath, value: Any) -> str:
    """A caller number as written in the file ("+86 139 0000 0000", 13900000000), in the
    one form callers are looked up in (hotline.numbers)."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    number = written(text)
    if number is None:
        raise source.error(key, f"expected a phone number, got {value!r}")
    return number


def _numbers(source: Source, key: KeyPath, raw: list[Any]) -> list[str]:
    return [_phone(source, (*key, str(index)), value) for index, value in enumerate(raw)]


def _agent_map(
    source: Source, key: KeyPath, raw: dict[Any, Any], agents: dict[str, model.Agent]
) -> dict[str, str]:
    result: dict[str, str] = {}
    written_as: dict[str, str] = {}  # normalised -> the key it was written as
    for written_key, agent in raw.items():
        where = (*key, str(written_key))
        number = _phone(source, where, written_key)
        if str(agent) not in agents:
            raise source.error(where, f"no agent numbered '{agent}'")
        if number in result and result[number] != str(agent):
            raise source.error(where, f"the same number as {written_as[number]}")
        result[number], written_as[number] = str(agent), str(written_key)
    return result


def _check_own_desks(source: Source, agents: dict[str, model.Agent]) -> None:
    """Each agent's own desk is nobody else's: one phone ringing for two agents would put
    one's callers through to the other. (A hot desk may be listed for several.)"""
    owners: dict[str, str] = {}
    for number, agent in agents.items():
        other = owners.setdefault(agent.extension, number)
        if other != number:
            raise source.error(
                ("agents", number, "extension"),
                f"{agent.extension} is agent {other}'s own desk already",
            )


def _regions(source: Source, raw: dict[str, Any]) -> model.Regions:
    prefixes: dict[str, str] = {}
    names: dict[str, str] = {}
    for region, value in _named(source, ("regions",), raw).items():
        f = Fields(source, ("regions", region), value)
        names[region] = f.text("name", region)
        for index, prefix in enumerate(f.get("prefixes", list)):
            text = str(prefix)
            if not isinstance(prefix, str) or not NUMBER.match(text) or len(text) > 8:
                raise f.error(
                    f"prefixes.{index}",
                    'expected a quoted area code ("021") or mobile prefix ("1391234")',
                )
            if text in prefixes:
                raise f.error(f"prefixes.{index}", f"{text} is already in {prefixes[text]}")
            prefixes[text] = region
        f.done()
    return model.Regions(prefixes, names)


def _agent(source: Source, number: str, raw: Any, regions: model.Regions) -> model.Agent:
    f = Fields(source, ("agents", number), raw)
    skills: dict[str, int] = {}
    for skill, level in f.get("skills", dict, {}).items():
        if not NAME.match(str(skill)):
            raise f.error(f"skills.{skill}", "skill names are lower-case letters and digits")
        if isinstance(level, bool) or not isinstance(level, int):
            raise f.error(f"skills.{skill}", f"expected a level 1-5, got {level!r}")
        if not model.LEVEL_MIN <= level <= model.LEVEL_MAX:
            raise f.error(f"skills.{skill}", f"levels are 1-5, got {level}")
        skills[str(skill)] = level
    languages = f.get("languages", list, ["zh"])
    for index, language in enumerate(languages):
        if language not in LANGUAGES:
            raise f.error(f"languages.{index}", f"must be one of zh, en, got {language!r}")
    region = f.text("region", "")
    if region and region not in regions.names:
        raise f.error("region", f"no region named '{region}' in regions")
    extension = f.text("extension", number)
    if not EXTENSION.fullmatch(extension):
        raise f.error("extension", f"expected digits, got {extension!r}")
    desks = [extension]
    for index, desk in enumerate(f.get("desks", list, [])):
        if not isinstance(desk, str) or not EXTENSION.fullmatch(desk):
            raise f.error(f"desks.{index}", f'expected a quoted extension ("8101"), got {desk!r}')
        if desk in desks:
            raise f.error(f"desks.{index}", f"{desk} is listed already")
        desks.append(desk)
    agent = model.Agent(
        number=number,
        name=f.text("name"),
        extension=extension,
        skills=skills,
        languages=frozenset(languages),
        region=region,
        team=f.text("team", ""),
        role=model.Role(f.choice("role", [r.value for r in model.Role], "agent")),
        desks=tuple(desks),
    )
    f.done()
    return agent


def _queue(source: Source, name: str, raw: Any, base: dict[str, Any]) -> model.Queue:
    f = Fields(source, ("queues", name), raw)
    settings = _queue_settings(f, base)
    skills = f.get("skills", list, [])
    for index, skill in enumerate(skills):
        if not isinstance(skill, str) or not NAME.match(skill):
            raise f.error(f"skills.{index}", f"expected a skill name, got {skill!r}")
    queue = model.Queue(
        name=name,
        skills=frozenset(skills),
        priority=f.integer("priority", 0, 0, 9),
        overflow=f.text("overflow", ""),
        **settings,
    )
    if queue.overflow and queue.overflow_after >= queue.max_wait:
        raise f.error(
            "overflow_after",
            f"must be shorter than max_wait ({queue.max_wait} s), got {queue.overflow_after}",
        )
    f.done()
    return queue


def _queue_settings(f: Fields, base: dict[str, Any] | None) -> dict[str, Any]:
    """The settings a queue may take from ``queue_defaults``."""

    def default(key: str, value: Any) -> Any:
        return base[key] if base is not None else value

    ring = f.integer("ring_seconds", default("ring_seconds", 16), 3, 120)
    steps = default("steps", model.DEFAULT_STEPS)
    if "steps" in f.data:
        steps = _steps(f, f.get("steps", list))
    announce = default("announce", model.Announcements())
    if "announce" in f.data:
        announce = _announce(Fields(f.source, (*f.key, "announce"), f.get("announce", dict)))
    max_wait = f.integer("max_wait", default("max_wait", 300), 10, 3600)
    return {
        "ring_seconds": ring,
        "wrapup_seconds": f.integer("wrapup_seconds", default("wrapup_seconds", 30), 0, 600),
        "max_wait": max_wait,
        "overflow_after": f.integer("overflow_after", default("overflow_after", 120), 0, 3600),
        "steps": steps,
        "announce": announce,
        "music": f.text("music", default("music", "default")),
    }


def _steps(f: Fields, raw: list[Any]) -> tuple[model.Step, ...]:
    steps: list[model.Step] = []
    for index, value in enumerate(raw):
        s = Fields(f.source, (*f.key, "steps", str(index)), value)
        step = model.Step(
            after=s.number("after", low=0, high=3600),
            scope=model.StepScope(s.choice("scope", [x.value for x in model.StepScope], "any")),
            min_level=s.integer("min_level", model.LEVEL_MIN, model.LEVEL_MIN, model.LEVEL_MAX),
        )
        s.done()
        if index == 0 and step.after != 0:
            raise s.error("after", "the first step applies from 0 seconds")
        if steps and step.after <= steps[-1].after:
            raise s.error("after", f"must be later than the step before ({steps[-1].after:g} s)")
        steps.append(step)
    if not steps:
        raise f.error("steps", "a queue needs at least one routing step")
    return tuple(steps)


def _announce(f: Fields) -> model.Announcements:
    key = f.text("callback_key", "1")
    if key and key not in "123456789*#":
        raise f.error("callback_key", f'expected one key (1-9, * or #) or "", got {key!r}')
    announce = model.Announcements(
        first_after=f.number("first_after", 20.0, 1, 600),
        every=f.number("every", 40.0, 5, 600),
        position=f.get("position", bool, True),
        expected_wait=f.get("expected_wait", bool, True),
        callback_key=key,
    )
    f.done()
    return announce
