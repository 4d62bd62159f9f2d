"""Menu YAML -> ``Menu``, checked field by field. Errors name file, line and key.

``load_menu`` fails on the first problem that makes the menu unusable (a bad value, a
reference to a node that does not exist, ...); ``ivr.check`` adds the graph checks.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hotline.yamldoc import Fields, show
from ivr import model
from ivr.line.classifier import LineClass, Thresholds
from ivr.source import KeyPath, Source, parse_source, read_source

NODE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
LANGUAGES = ("zh", "en")


def load_menu(path: Path) -> model.Menu:
    return build_menu(read_source(path))


def parse_menu(path: Path, text: str) -> model.Menu:
    return build_menu(parse_source(path, text))


def build_menu(source: Source) -> model.Menu:
    top = Fields(source, (), source.data)
    hotline = Fields(source, ("hotline",), top.get("hotline", dict))
    name = Fields(source, ("hotline", "name"), hotline.get("name", dict))
    defaults = _defaults(Fields(source, ("defaults",), top.get("defaults", dict, {})))
    numbers = _numbers(source, hotline.get("numbers", dict))
    hours = _hours(Fields(source, ("hotline", "hours"), hotline.get("hours", dict, {})))
    menu_language = hotline.choice("language", LANGUAGES, "zh")
    start = hotline.text("start")
    nodes_raw = top.get("nodes", dict)
    if not nodes_raw:
        raise source.error(("nodes",), "a menu needs at least one node")
    nodes = {}
    for node_id, raw in nodes_raw.items():
        if not NODE_ID.match(node_id):
            raise source.error(
                ("nodes", node_id), "node ids are lower-case letters, digits, '-' and '_'"
            )
        nodes[node_id] = _node(Fields(source, ("nodes", node_id), raw), node_id, defaults)
    line_check = _line_check(Fields(source, ("line_check",), top.get("line_check", dict, {})))
    menu = model.Menu(
        path=str(source.path),
        version=hashlib.sha256(repr(source.data).encode()).hexdigest()[:12],
        name_zh=name.text("zh"),
        name_en=name.text("en"),
        language=menu_language,
        numbers=numbers,
        hours=hours,
        defaults=defaults,
        start=start,
        nodes=nodes,
        line_check=line_check,
    )
    for fields in (name, hotline, top):
        fields.done()
    _check_references(source, menu)
    _check_line_nodes(source, menu)
    return menu


def _defaults(f: Fields) -> model.Defaults:
    d = model.Defaults(
        timeout=f.number("timeout", 5.0, 1, 60),
        tries=f.integer("tries", 3, 1, 10),
        invalid_prompt=f.text("invalid_prompt", "invalid-key"),
        timeout_prompt=f.text("timeout_prompt", "no-input"),
        agent=f.text("agent", ""),
    )
    f.done()
    return d


def _line_check(f: Fields) -> model.LineCheck:
    raw_nodes = f.get("nodes", (str, list), "all")
    if isinstance(raw_nodes, str) and raw_nodes != "all":
        raise f.error("nodes", f"expected 'all' or a list of node ids, got {raw_nodes!r}")
    nodes = None if raw_nodes == "all" else frozenset(str(n) for n in raw_nodes)
    base = Thresholds()
    t = Fields(f.source, (*f.key, "thresholds"), f.get("thresholds", dict, {}))
    thresholds = Thresholds(
        silence_db=t.number("silence_db", base.silence_db, -90, -30),
        noisy_db=t.number("noisy_db", base.noisy_db, -70, -10),
        quiet_db=t.number("quiet_db", base.quiet_db, -60, -10),
        syllable_db=t.number("syllable_db", base.syllable_db, 1, 30),
        syllables=t.number("syllables", base.syllables, 0.01, 0.9),
        dips_db=t.number("dips_db", base.dips_db, 1, 40),
    )
    t.done()
    if not thresholds.silence_db < thresholds.noisy_db:
        raise t.error("noisy_db", f"must be above silence_db ({thresholds.silence_db:g})")
    sequences = dict(model.STANDARD_SEQUENCES)
    raw_sequences = f.get("sequences", dict, {})
    kinds = [k.value for k in model.SEQUENCE_CLASSES]
    for kind, raw_steps in raw_sequences.items():
        key = (*f.key, "sequences", str(kind))
        if kind not in kinds:
            raise f.source.error(key, f"a sequence is one of {', '.join(kinds)}, got {kind!r}")
        if not isinstance(raw_steps, list) or not raw_steps:
            raise f.source.error(key, "expected a list of steps like {prompt: ..., wait: 5}")
        steps = []
        for i, raw in enumerate(raw_steps):
            step = Fields(f.source, (*key, str(i)), raw)
            steps.append(model.LineStep(step.text("prompt"), step.number("wait", 5.0, 0, 60)))
            step.done()
        sequences[LineClass(kind)] = tuple(steps)
    check = model.LineCheck(
        nodes=nodes,
        thresholds=thresholds,
        sequences=sequences,
        speech_window=f.number("speech_window", 1.5, 0.5, 5),
    )
    f.done()
    return check


def _check_line_nodes(source: Source, menu: model.Menu) -> None:
    key_waiting = (model.MenuNode, model.InputNode, model.VerifyNode)
    for node_id in sorted(menu.line_check.nodes or ()):
        node = menu.nodes.get(node_id)
        if node is None:
            raise source.error(("line_check", "nodes"), f"no node named '{node_id}'")
        if not isinstance(node, key_waiting):
            problem = f"node '{node_id}' waits for no key (menu, input, verify do)"
            raise source.error(("line_check", "nodes"), problem)


def _numbers(source: Source, raw: dict[str, Any]) -> dict[str, model.NumberPlan]:
    if not raw:
        raise source.error(("hotline", "numbers"), "list at least one hotline number")
    plans = {}
    for number, settings in raw.items():
        key = ("hotline", "numbers", str(number))
        if not str(number).isdigit():
            raise source.error(key, "a hotline number is digits only")
        f = Fields(source, key, settings if settings is not None else {})
        plans[str(number)] = model.NumberPlan(
            str(number), f.integer("priority", 5, model.PRIORITY_MIN, model.PRIORITY_MAX)
        )
        f.done()
    return plans


def _hours(f: Fields) -> model.Hours:
    timezone = f.text("timezone", "Asia/Shanghai")
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise f.error("timezone", f"unknown time zone {timezone!r}") from None
    weekly: dict[int, tuple[tuple[dt.time, dt.time], ...]] = {}
    raw_weekly = f.get("weekly", dict, {"mon-sun": "09:00-21:00"})
    for days, spans in raw_weekly.items():
        key = (*f.key, "weekly", str(days))
        for day in _days(f.source, key, str(days)):
            weekly[day] = _spans(f.source, key, spans)
    holidays = {}
    for i, raw in enumerate(f.get("holidays", list, [])):
        h = Fields(f.source, (*f.key, "holidays", str(i)), raw)
        date = h.get("date", dt.date)
        holidays[date] = model.Holiday(
            date, h.text("name"), h.text("prompt", ""), h.get("closed", bool, False)
        )
        h.done()
    f.done()
    return model.Hours(timezone, weekly, holidays)


def _days(source: Source, key: KeyPath, text: str) -> list[int]:
    first, _, last = text.partition("-")
    if first not in WEEKDAYS or (last and last not in WEEKDAYS):
        raise source.error(key, "days are mon..sun or a range like mon-fri")
    a, b = WEEKDAYS[first], WEEKDAYS[last or first]
    return list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]


def _spans(source: Source, key: KeyPath, text: Any) -> tuple[tuple[dt.time, dt.time], ...]:
    if text in ("closed", None):
        return ()
    spans = []
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", part)
        if not m:
            raise source.error(key, f"opening hours look like 09:00-21:00, got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h1, m1) >= (h2, m2):
            raise source.error(key, f"opening hours look like 09:00-21:00, got {text!r}")
        end = dt.time(23, 59, 59) if h2 == 24 else dt.time(h2, m2)
        spans.append((dt.time(h1, m1), end))
    return tuple(spans)


def _node(f: Fields, node_id: str, d: model.Defaults) -> model.Node:
    kind = f.choice("kind", BUILDERS)
    node = BUILDERS[kind](f, node_id, d)
    f.done()
    return node


def _menu(f: Fields, node_id: str, d: model.Defaults) -> model.Node:
    keys_raw = f.get("keys", dict)
    keys = {}
    for key, target in keys_raw.items():
        if str(key) not in model.DTMF_KEYS or len(str(key)) != 1:
            raise f.error(f"keys.{key}", "a key is one of 0-9, * or #")
        if not isinstance(target, str):
            raise f.error(f"keys.{key}", f"expected a node id, got {show(target)}")
        keys[str(key)] = target
    return model.MenuNode(
        node_id,
        prompt=f.text("prompt"),
        keys=keys,
        timeout=f.number("timeout", d.timeout, 1, 60),
        tries=f.integer("tries", d.tries, 1, 10),
        invalid_prompt=f.text("invalid_prompt", d.invalid_prompt),
        timeout_prompt=f.text("timeout_prompt", d.timeout_prompt),
        on_fail=f.text("on_fail"),
        star=f.choice("star", ("back", "repeat"), "back"),
        zero=f.text("zero", d.agent) if "0" not in keys else "",
    )


def _play(f: Fields, node_id: str, d: model.Defaults) -> model.Node:
    raw = f.get("prompt", (str, list))
    prompts = tuple(str(p) for p in (raw if isinstance(raw, list) else [raw]))
    return model.PlayNode(
        node_id,
        prompts,
        f.text("next"),
        f.get("barge_in", bool, True),
        f.get("holiday_greeting", bool, False),
    )


def _input(f: Fields, node_id: str, d: model.Defaults) -> model.Node:
    low = f.integer("min_digits", 1, 1, 32)
    high = f.integer("max_digits", 20, 1, 32)
    if high < low:
        raise f.error("max_digits", f"must not be below min_digits ({low})")
    return model.InputNode(
        node_id,
        prompt=f.text("prompt"),
        min_digits=low,
        max_digits=high,
        store=f.text("store"),
        readback=f.text("readback", ""),
        confirm=f.text("confirm", "confirm-or-reenter"),
        next=f.text("next"),
        on_fail=f.text("on_fail"),
        timeout=f.number("timeout", d.timeout, 1, 60),
        tries=f.integer("tries", d.tries, 1, 10),
    )


def _verify(f: Fields, node_id: str, d: model.Defaults) -> model.Node:
    return model.VerifyNode(
        node_id,
        prompt=f.text("prompt"),
        account=f.text("account"),
        wrong_prompt=f.text("wrong_prompt", "pin-wrong"),
        tries=f.integer("tries", 3, 1, 10),
        ok=f.text("ok"),
        fail=f.text("fail"),
        timeout=f.number("timeout", d.timeout, 1, 60),
        lock=_pin_lock(Fields(f.source, (*f.key, "lock"), f.get("lock", dict, {}))),
    )


def _pin_lock(f: Fields) -> model.PinLock:
    base, week = model.PinLock(), 7 * 24 * 60
    lock = model.PinLock(
        failures=f.integer("failures", base.failures, 1, 100),
        within=dt.timedelta(minutes=f.number("within_minutes", _minutes(base.within), 1, week)),
        duration=dt.timedelta(minutes=f.number("for_minutes", _minutes(base.duration), 1, week)),
    )
    f.done()
    return lock


def _minutes(span: dt.timedelta) -> float:
    return span.total_seconds() / 60


def _queue(f: Fields, node_id: str, d: model.Defaults) -> model.Node:
    skills = f.get("skills", list, [])
    priority = f.get("priority", int, None)
    if priority is not None and not model.PRIORITY_MIN <= priority <= model.PRIORITY_MAX:
        raise f.error(
            "priority",
            f"must be between {model.PRIORITY_MIN} and {model.PRIORITY_MAX}, got {priority}",
        )
    return model.QueueNode(
        node_id, f.text("queue"), tuple(str(s) for s in skills), priority, f.text("fallback")
    )


def _transfer(f: Fields, node_id: str, d: model.Defaults) -> model.Node:
    to = f.text("to")
    if not re.fullmatch(r"(agent:[0-9A-Za-z_-]+|outside:\+?\d+)", to):
        raise f.error("to", f"expected agent:<extension> or outside:<number>, got {to!r}")
    return model.TransferNode(
        node_id,
        to,
        f.text("prompt", "transferring"),
        f.text("on_fail"),
        f.integer("ring_seconds", 20, 5, 120),
    )


def _message(f: Fields, node_id: str, d: model.Defaults) -> model.Node:
    return model.MessageNode(
        node_id, f.text("prompt"), f.integer("max_seconds", 120, 5, 600), f.text("next")
    )


def _callback(f: Fields, node_id: str, d: model.Defaults) -> model.Node:
    return model.CallbackNode(node_id, f.text("prompt"), f.text("next"))


def _hours_node(f: Fields, node_id: str, d: model.Defaults) -> model.Node:
    return model.HoursNode(node_id, f.text("open"), f.text("closed"))


def _language(f: Fields, node_id: str, d: model.Defaults) -> model.Node:
    return model.LanguageNode(node_id, f.choice("language", LANGUAGES), f.text("next"))


def _hangup(f: Fields, node_id: str, d: model.Defaults) -> model.Node:
    return model.HangupNode(node_id, f.text("prompt", "goodbye"))


BUILDERS: dict[str, Callable[[Fields, str, model.Defaults], model.Node]] = {
    "menu": _menu,
    "play": _play,
    "input": _input,
    "verify": _verify,
    "queue": _queue,
    "transfer": _transfer,
    "leave-message": _message,
    "callback-request": _callback,
    "hours": _hours_node,
    "language": _language,
    "hangup": _hangup,
}


def _check_references(source: Source, menu: model.Menu) -> None:
    refs: list[tuple[KeyPath, str]] = [(("hotline", "start"), menu.start)]
    if menu.defaults.agent:
        refs.append((("defaults", "agent"), menu.defaults.agent))
    for node in menu.nodes.values():
        for field_name, target in node.targets().items():
            if field_name == "zero" and target == menu.defaults.agent:
                continue  # inherited: reported once, at defaults.agent
            refs.append((("nodes", node.id, *field_name.split(".")), target))
    for key, target in refs:
        if target not in menu.nodes:
            hint = difflib.get_close_matches(target, menu.nodes, n=1)
            more = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise source.error(key, f"no node named '{target}'{more}")
