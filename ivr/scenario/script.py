"""Scenario YAML -> ``Scenario``: a scripted call into the hotline, checked step by step.

Every error names file, line and key (``install.yaml:12: steps.3.expect: ...``). Steps are
numbered from 1 in errors, as in the run reports, so "step 3" means the same thing in both.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotline.yamldoc import Fields
from ivr.source import KeyPath, MenuError, Source, parse_source

LANGUAGES = ("zh", "en")
DEFAULT_TIMEOUT = 15.0
MAX_SECONDS = 600.0
STEP_KINDS = ("expect", "press", "silence", "hangup")
NUMBER = re.compile(r"[0-9]+")
KEYS = re.compile(r"[0-9*#]+")
TRANSFER_TARGET = re.compile(r"(agent:[0-9A-Za-z_-]+|outside:\+?\d+)")

# A scenario file is wrong in the same way a menu file is: one error type for both.
ScriptError = MenuError


@dataclass(frozen=True)
class CallSetup:
    to: str  # the hotline number dialled
    caller: str  # the caller id presented
    language: str  # which prompt audio the caller listens for


@dataclass(frozen=True)
class ExpectPrompts:
    """The caller hears these prompts, in this order (each within ``timeout``)."""

    prompts: tuple[str, ...]
    language: str
    timeout: float


@dataclass(frozen=True)
class ExpectQueue:
    queue: str
    timeout: float


@dataclass(frozen=True)
class ExpectTransfer:
    target: str
    timeout: float


@dataclass(frozen=True)
class ExpectHangup:
    timeout: float


@dataclass(frozen=True)
class Press:
    keys: str


@dataclass(frozen=True)
class Silence:
    seconds: float


@dataclass(frozen=True)
class Hangup:
    """The caller hangs up; always the last step."""


Action = ExpectPrompts | ExpectQueue | ExpectTransfer | ExpectHangup | Press | Silence | Hangup


@dataclass(frozen=True)
class Step:
    number: int  # from 1
    line: int
    text: str  # the step as written, e.g. "expect: repair-menu"
    action: Action


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    call: CallSetup
    steps: tuple[Step, ...]


def load_scenario(path: Path, prompt_ids: Collection[str]) -> Scenario:
    """Read and check one scenario file; raise ``ScriptError`` naming file, line and key."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise ScriptError(f"{path}: not UTF-8 text", file=str(path)) from None
    return parse_scenario(path, text, prompt_ids)


def parse_scenario(path: Path, text: str, prompt_ids: Collection[str]) -> Scenario:
    source = _steps_numbered_from_one(parse_source(path, text))
    return _Builder(source, text.splitlines(), prompt_ids).scenario()


def _steps_numbered_from_one(source: Source) -> Source:
    """Re-key ``steps.<i>`` from YAML's 0-based index to the step number people read."""
    lines: dict[KeyPath, int] = {}
    for key, line in source.lines.items():
        if len(key) >= 2 and key[0] == "steps" and key[1].isdigit():
            key = ("steps", str(int(key[1]) + 1), *key[2:])
        lines[key] = line
    return Source(source.path, source.data, lines, source.error_type)


class _Builder:
    def __init__(self, source: Source, text_lines: Sequence[str], prompt_ids: Collection[str]):
        self.source = source
        self.text_lines = text_lines
        self.prompt_ids = prompt_ids

    def scenario(self) -> Scenario:
        top = Fields(self.source, (), self.source.data)
        name = top.text("name", self.source.path.name)
        call = self._call(Fields(self.source, ("call",), top.get("call", dict)))
        timeout = top.number("timeout", DEFAULT_TIMEOUT, 0.5, MAX_SECONDS)
        raw_steps = top.get("steps", list)
        top.done()
        if not raw_steps:
            raise self.source.error(("steps",), "a scenario needs at least one step")
        steps = tuple(
            self._step(number, raw, call, timeout) for number, raw in enumerate(raw_steps, 1)
        )
        for step in steps[:-1]:
            if isinstance(step.action, Hangup):
                later = ("steps", str(step.number + 1))
                raise self.source.error(
                    later, f"nothing can follow the caller's hangup (step {step.number})"
                )
        return Scenario(self.source.path, name, call, steps)

    def _call(self, f: Fields) -> CallSetup:
        call = CallSetup(
            to=self._keys(f, "to", NUMBER, "digits"),
            caller=self._keys(f, "from", NUMBER, "digits"),
            language=f.choice("language", LANGUAGES, "zh"),
        )
        f.done()
        return call

    def _step(self, number: int, raw: Any, call: CallSetup, default_timeout: float) -> Step:
        key: KeyPath = ("steps", str(number))
        line = self.source.line(key)
        if raw == "hangup":
            return Step(number, line, "hangup", Hangup())
        if not isinstance(raw, dict):
            raise self.source.error(
                key, f"a step is 'hangup' or one of expect, press, silence; got {raw!r}"
            )
        kinds = [name for name in raw if name in STEP_KINDS]
        for name in raw:
            if name not in STEP_KINDS and name != "timeout":
                raise self.source.error((*key, name), f"unknown step{_hint(name, STEP_KINDS)}")
        if not kinds:
            raise self.source.error(key, "a step needs one of expect, press, silence")
        if len(kinds) > 1:
            raise self.source.error(
                (*key, kinds[1]), f"one action per step (this step already has '{kinds[0]}')"
            )
        f = Fields(self.source, key, raw)
        kind = kinds[0]
        if kind == "hangup":
            raise f.error("hangup", "write the caller's hangup as a plain step: '- hangup'")
        if kind == "expect":
            timeout = f.number("timeout", default_timeout, 0.5, MAX_SECONDS)
            action = self._expect(f, raw["expect"], call, timeout, "timeout" in raw)
        elif kind == "press":
            action = Press(self._keys(f, "press", KEYS, "keys (0-9, * and #)"))
        else:
            action = Silence(f.number("silence", low=0.1, high=MAX_SECONDS))
        f.done()
        return Step(number, line, _as_written(raw), action)

    def _expect(
        self, f: Fields, value: Any, call: CallSetup, timeout: float, timed_outside: bool
    ) -> Action:
        f.used.add("expect")
        if value == "hangup":
            return ExpectHangup(timeout)
        if isinstance(value, str | list):
            return ExpectPrompts(self._prompts(f, "expect", value), call.language, timeout)
        if not isinstance(value, dict):
            problem = f"expected a prompt id, a list of them, hangup or a mapping; got {value!r}"
            raise f.error("expect", problem)
        e = Fields(self.source, (*f.key, "expect"), value)
        targets = [name for name in ("prompt", "queue", "transfer") if name in value]
        if len(targets) != 1:
            problem = "needs one of prompt, queue, transfer"
            if targets:
                problem = f"one of prompt, queue, transfer, not {' and '.join(targets)}"
            raise f.error("expect", problem)
        if timed_outside and "timeout" in value:
            raise e.error("timeout", "give the timeout once: beside expect or inside it")
        timeout = e.number("timeout", timeout, 0.5, MAX_SECONDS)
        action: Action
        if targets[0] == "prompt":
            prompts = self._prompts(e, "prompt", e.get("prompt", (str, list)))
            action = ExpectPrompts(prompts, e.choice("language", LANGUAGES, call.language), timeout)
        elif targets[0] == "queue":
            action = ExpectQueue(e.text("queue"), timeout)
        else:
            target = e.text("transfer")
            if not TRANSFER_TARGET.fullmatch(target):
                raise e.error(
                    "transfer", f"expected agent:<extension> or outside:<number>, got {target!r}"
                )
            action = ExpectTransfer(target, timeout)
        e.done()
        return action

    def _prompts(self, f: Fields, name: str, value: str | list[Any]) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise f.error(name, "list at least one prompt")
        for index, item in enumerate(items):
            if not isinstance(item, str):
                raise self._error_in_list(f, name, index, f"expected a prompt id, got {item!r}")
            if item not in self.prompt_ids:
                problem = f"no prompt '{item}' in the catalogue{_hint(item, self.prompt_ids)}"
                raise self._error_in_list(f, name, index, problem)
        return tuple(items)

    def _error_in_list(self, f: Fields, name: str, index: int, problem: str) -> ScriptError:
        """An error at one item of a list, shown under the list's key (the line is the item's)."""
        key = (*f.key, *name.split("."))
        line = self.source.line((*key, str(index)))
        dotted = ".".join(key)
        path = self.source.path
        return ScriptError(f"{path}:{line}: {dotted}: {problem}", file=str(path), line=line)

    def _keys(self, f: Fields, name: str, allowed: re.Pattern[str], what: str) -> str:
        value = f.get(name, (str, int))
        text = str(value)
        if isinstance(value, int) and not self._written_as(f, name, text):
            # YAML reads 0123 as the octal number 83: the keys would silently change.
            raise f.error(name, f'write these {what} in quotes, e.g. "0123"')
        if not allowed.fullmatch(text):
            raise f.error(name, f"expected {what}, got {text!r}")
        return text

    def _written_as(self, f: Fields, name: str, text: str) -> bool:
        line = self.source.line((*f.key, name))
        return 0 < line <= len(self.text_lines) and text in self.text_lines[line - 1]


def _as_written(raw: dict[str, Any]) -> str:
    return ", ".join(f"{name}: {_show(value)}" for name, value in raw.items())


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + _as_written(value) + "}"
    return str(value)


def _hint(name: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
