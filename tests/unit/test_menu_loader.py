"""Menu YAML: the default menu is clean; broken menus are refused with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.check import check_file
from ivr.line.classifier import LineClass
from ivr.loader import load_menu
from ivr.model import MenuNode, QueueNode
from ivr.source import MenuError
from prompts.build import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "ivr" / "default-menu.yaml"
PROMPTS = set(load_catalogue({"name_zh": "XX", "name_en": "XX"}))

MINIMAL = """\
hotline:
  name: {zh: XX, en: XX}
  start: main
  numbers:
    "4008001234": {priority: 5}
nodes:
  main:
    kind: menu
    prompt: main-menu
    keys:
      "1": bye
    on_fail: bye
  bye:
    kind: hangup
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "menu.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_menu_loads_and_checks_clean() -> None:
    menu, findings = check_file(DEFAULT, PROMPTS)
    assert findings == []
    assert menu is not None
    assert menu.priority_for("4008001235") > menu.priority_for("4008001234")
    main = menu.nodes["main"]
    assert isinstance(main, MenuNode)
    assert main.zero == "agent" and main.timeout == 5 and main.tries == 3
    gas = menu.nodes["repair-gas"]
    assert isinstance(gas, QueueNode) and gas.priority == 8


def test_minimal_menu_loads(tmp_path: Path) -> None:
    menu = load_menu(write(tmp_path, MINIMAL))
    assert menu.start == "main" and set(menu.nodes) == {"main", "bye"}


BROKEN = [
    # (what is changed, replacement, expected line, expected key, expected problem)
    ("kind: menu", "kind: menus", 8, "nodes.main.kind", "must be one of menu, play"),
    ('"1": bye', '"1": by', 11, "nodes.main.keys.1", "no node named 'by' (did you mean 'bye'?)"),
    ('"1": bye', '"12": bye', 11, "nodes.main.keys.12", "a key is one of 0-9, * or #"),
    ("on_fail: bye", "on_fail: [bye]", 12, "nodes.main.on_fail", "expected text"),
    ("    on_fail: bye\n", "", 7, "nodes.main", "missing required key 'on_fail'"),
    (
        "{priority: 5}",
        "{priority: 12}",
        5,
        "hotline.numbers.4008001234.priority",
        "must be between 1 and 9, got 12",
    ),
    (
        "{priority: 5}",
        "{priorty: 5}",
        5,
        "hotline.numbers.4008001234.priorty",
        "unknown key (did you mean 'priority'?)",
    ),
    ("start: main", "start: mian", 3, "hotline.start", "no node named 'mian'"),
    (
        "    prompt: main-menu\n",
        "    prompt: main-menu\n    timeout: 0\n",
        10,
        "nodes.main.timeout",
        "must be between 1 and 60",
    ),
    ('"1": bye\n', '"1": bye\n      "1": main\n', 12, "nodes.main.keys.1", "duplicate key"),
    (
        "  bye:\n    kind: hangup\n",
        "  bye:\n    kind: hangup\n  bye:\n    kind: hangup\n",
        15,
        "nodes.bye",
        "duplicate key",
    ),
    ('"4008001234"', '"400-800"', 5, "hotline.numbers.400-800", "digits only"),
    ("  main:\n", "  Main Menu:\n", 7, "nodes.Main Menu", "node ids are lower-case"),
    (
        "    prompt: main-menu\n",
        "    prompt: main-menu\n    star: up\n",
        10,
        "nodes.main.star",
        "must be one of back, repeat",
    ),
    ("name: {zh: XX, en: XX}", "name: {zh: XX}", 2, "hotline.name", "missing required key 'en'"),
    ("kind: hangup", "kind: hangup\n    next: main", 15, "nodes.bye.next", "unknown key"),
]


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "problem"), BROKEN, ids=[b[3] + ":" + b[4][:20] for b in BROKEN]
)
def test_broken_menu_names_file_line_and_key(
    tmp_path: Path, old: str, new: str, line: int, key: str, problem: str
) -> None:
    assert old in MINIMAL
    path = write(tmp_path, MINIMAL.replace(old, new, 1))
    with pytest.raises(MenuError) as err:
        load_menu(path)
    assert err.value.message.startswith(f"{path}:{line}: {key}: "), err.value.message
    assert problem in err.value.message


def test_not_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace("    kind: hangup", "\tkind: hangup"))
    with pytest.raises(MenuError, match=r"menu.yaml:14: not valid YAML"):
        load_menu(path)


def test_check_reports_unreachable_silent_loops_and_missing_prompts(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + """\
  orphan:
    kind: play
    prompt: no-such-prompt
    next: spin
  spin:
    kind: language
    language: en
    next: orphan
"""
    )
    path = write(tmp_path, text)
    menu, findings = check_file(path, PROMPTS)
    assert menu is None
    messages = [(f.level, f.message.split(": ", 1)[1]) for f in findings]
    assert ("warning", "nodes.orphan: unreachable: no path from 'main' leads here") in messages
    assert (
        "error",
        "nodes.orphan: loop that never waits for the caller: orphan -> spin -> orphan",
    ) in messages
    assert ("error", "nodes.orphan.prompt: no prompt 'no-such-prompt' in the catalogue") in messages
    assert f"{path}:17: nodes.orphan.prompt: no prompt" in "\n".join(f.message for f in findings)


LINE_BROKEN = [
    # (line_check section, expected line, expected key, expected problem)
    ("line_check: {nodes: [bye]}", 15, "line_check.nodes", "node 'bye' waits for no key"),
    ("line_check: {nodes: [mian]}", 15, "line_check.nodes", "no node named 'mian'"),
    ("line_check: {nodes: some}", 15, "line_check.nodes", "expected 'all' or a list"),
    (
        "line_check:\n  sequences:\n    deaf: [{prompt: goodbye}]",
        17,
        "line_check.sequences.deaf",
        "a sequence is one of silent, open-line, noisy, quiet",
    ),
    (
        "line_check:\n  sequences:\n    silent: [{prompt: goodbye, wait: 99}]",
        17,
        "line_check.sequences.silent.0.wait",
        "must be between 0 and 60",
    ),
    (
        "line_check:\n  thresholds: {silence_db: -40, noisy_db: -50}",
        16,
        "line_check.thresholds.noisy_db",
        "must be above silence_db",
    ),
    ("line_check: {speach_window: 2}", 15, "line_check.speach_window", "did you mean"),
]


@pytest.mark.parametrize(
    ("section", "line", "key", "problem"), LINE_BROKEN, ids=[b[2] for b in LINE_BROKEN]
)
def test_broken_line_check_names_file_line_and_key(
    tmp_path: Path, section: str, line: int, key: str, problem: str
) -> None:
    path = write(tmp_path, MINIMAL + section + "\n")
    with pytest.raises(MenuError) as err:
        load_menu(path)
    assert err.value.message.startswith(f"{path}:{line}: {key}: "), err.value.message
    assert problem in err.value.message


def test_line_check_defaults_are_the_standards_and_can_be_changed(tmp_path: Path) -> None:
    plain = load_menu(write(tmp_path, MINIMAL))
    assert plain.line_check.applies_to("main")
    silent = plain.line_check.sequences[LineClass.SILENT]
    assert [(s.prompt, s.wait) for s in silent] == [
        ("line-silent-hello", 5.0),
        ("line-silent-bye", 5.0),
    ]
    custom = MINIMAL + (
        "line_check:\n"
        "  nodes: [main]\n"
        "  thresholds: {quiet_db: -36}\n"
        "  sequences:\n"
        "    quiet: [{prompt: line-quiet-handset, wait: 4}, {prompt: line-quiet-bye}]\n"
    )
    menu = load_menu(write(tmp_path, custom))
    assert menu.line_check.nodes == frozenset({"main"})
    assert menu.line_check.thresholds.quiet_db == -36
    assert [s.prompt for s in menu.line_check.sequences[LineClass.QUIET]] == [
        "line-quiet-handset",
        "line-quiet-bye",
    ]
    assert menu.line_check.sequences[LineClass.NOISY] == plain.line_check.sequences[LineClass.NOISY]
    off = load_menu(write(tmp_path, MINIMAL + "line_check: {nodes: []}\n"))
    assert not off.line_check.enabled
