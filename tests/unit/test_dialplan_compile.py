"""The menu compiled to the fallback's dialplan: read back as contexts, extensions and
priorities, as Asterisk would read them, and checked for what the caller meets."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from dialplan.compile import DialplanError, compile_fallback
from hotline.app import pbx_spec
from hotline.config import DEFAULT_MENU, load_config
from hotline.pbx.instance import render_includes
from hotline.secrets import ensure_secrets
from ivr.loader import load_menu, parse_menu
from ivr.model import HoursNode

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "ivr" / "default-menu.yaml"

SMALL = """\
hotline:
  name: {zh: XX, en: XX}
  start: hours
  numbers: {"4008001234": {priority: 5}}
  hours:
    timezone: Asia/Shanghai
    weekly: {mon-fri: "08:30-18:00"}
    holidays:
      - {date: 2027-02-06, name: 春节, closed: true}
      - {date: 2026-10-01, name: 国庆节, prompt: holiday-national-day}
defaults: {agent: people, tries: 2, timeout: 4}
nodes:
  hours: {kind: hours, open: hello, closed: bye}
  hello: {kind: play, prompt: greeting, holiday_greeting: true, next: top}
  top:
    kind: menu
    prompt: main-menu
    keys: {"1": pin, "2": sales, "8": english}
    on_fail: bye
  english: {kind: language, language: en, next: top}
  pin:
    kind: verify
    prompt: enter-pin
    account: account
    wrong_prompt: pin-wrong
    ok: sales
    fail: people
  sales: {kind: queue, queue: sales, skills: [sales], fallback: people}
  people: {kind: queue, queue: general, skills: [], fallback: bye}
  bye: {kind: hangup, prompt: goodbye}
"""


@dataclass
class Extension:
    priorities: list[tuple[str, str]] = field(default_factory=list)  # (label, application)

    def apps(self) -> list[str]:
        return [app for _, app in self.priorities]

    def at(self, label: str) -> str:
        return next(app for name, app in self.priorities if name == label)


@dataclass
class Context:
    extensions: dict[str, Extension] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)


def parse(text: str) -> dict[str, Context]:
    """extensions.conf text -> context -> extension -> priorities, refusing what Asterisk
    would read differently (a ``same`` before any ``exten``, a repeated context or
    extension, a numbered priority out of order)."""
    contexts: dict[str, Context] = {}
    context: Context | None = None
    current: Extension | None = None
    for line in text.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        if header := re.fullmatch(r"\[([a-z0-9_-]+)\]", line):
            assert header[1] not in contexts, f"context {header[1]} twice"
            context = contexts[header[1]] = Context()
            current = None
            continue
        assert context is not None, line
        if include := re.fullmatch(r"include => ([a-z0-9_-]+)", line):
            context.includes.append(include[1])
        elif exten := re.fullmatch(r"exten => ([^,]+),1,(.+)", line):
            assert exten[1] not in context.extensions, f"extension {exten[1]} twice"
            current = context.extensions[exten[1]] = Extension([("", exten[2])])
        elif same := re.fullmatch(r" same => n(?:\(([a-z]+)\))?,(.+)", line):
            assert current is not None, line
            current.priorities.append((same[1] or "", same[2]))
        else:
            raise AssertionError(f"not dialplan: {line!r}")
    return contexts


def both(prompt: str, first: str = "zh", second: str = "en") -> str:
    return f"${{HOTLINE_PROMPTS}}/{first}/{prompt}&${{HOTLINE_PROMPTS}}/{second}/{prompt}"


def say(prompt: str) -> str:
    chosen = f"${{HOTLINE_PROMPTS}}/${{HOTLINE_LANG}}/{prompt}"
    return f'${{IF($["${{HOTLINE_LANG}}" = ""]?{both(prompt)}:{chosen})}}'


@pytest.fixture
def small(tmp_path: Path) -> dict[str, Context]:
    return parse(compile_fallback(parse_menu(tmp_path / "small.yaml", SMALL)))


def test_the_default_menu_compiles_to_its_first_level(tmp_path: Path) -> None:
    menu = load_menu(DEFAULT)
    text = compile_fallback(menu)
    assert compile_fallback(load_menu(DEFAULT)) == text  # deterministic
    contexts = parse(text)
    entry = contexts["fallback-menu"].extensions["s"].apps()
    assert entry[0] == "Answer()" and entry[-1] == "Goto(fallback-menu-welcome,s,1)"
    welcome = contexts["fallback-menu-welcome"].extensions["s"]
    assert "GotoIfTime(09:00-20:59,mon,*,*,Asia/Shanghai?open)" in welcome.apps()
    assert welcome.at("open") == "Goto(fallback-menu-greeting,s,1)"
    assert welcome.at("closed") == "Goto(fallback-menu-after-hours,s,1)"
    # The greeting barges into the main menu: its keys are the menu's.
    greeting = contexts["fallback-menu-greeting"]
    assert greeting.includes == ["fallback-menu-main"]
    assert greeting.extensions["s"].apps()[:2] == [
        "Set(FB_TRIES=1)",  # the menu's i and t count a wrong key in the greeting
        f"Background({say('greeting')})",
    ]
    assert 'ExecIf($["${FB_TODAY}" = "2027-02-06"]?Set(FB_HOLIDAY=holiday-spring-festival))' in (
        greeting.extensions["s"].apps()
    )
    main = contexts["fallback-menu-main"].extensions
    assert main["s"].apps()[2:] == [f"Background({say('main-menu')})", "WaitExten(5)"]
    # Input and PIN nodes need the controller: the fallback goes on to their queue/person.
    assert main["1"].apps() == ["Goto(fallback-queue-install,s,1)"]
    assert main["3"].apps() == ["Goto(fallback-queue-general,s,1)"]
    assert main["4"].apps() == ["Goto(fallback-queue-complaints,s,1)"]
    assert main["0"].apps() == ["Goto(fallback-queue-general,s,1)"]
    assert main["2"].apps() == ["Goto(fallback-menu-repair,s,1)"]
    assert main["9"].apps() == ["Goto(fallback-menu-english,s,1)"]
    assert contexts["fallback-menu-english"].extensions["s"].apps() == [
        "Set(HOTLINE_LANG=en)",
        "Goto(fallback-menu-main,s,1)",
    ]
    repair = contexts["fallback-menu-repair"].extensions
    assert repair["1"].apps() == repair["2"].apps() == ["Goto(fallback-queue-repair,s,1)"]
    # No outside leg: head office and the operator become a message.
    after = contexts["fallback-menu-after-hours"].extensions
    assert after["2"].apps() == after["1"].apps() == ["Goto(fallback-message,s,1)"]
    assert {c for c in contexts if c.startswith("fallback-queue-")} == {
        f"fallback-queue-{q}" for q in ("install", "repair", "general", "complaints")
    }
    # Nothing dials a number of its own: only the phones the FastAGI fallback names.
    assert re.findall(r"Dial\([^,]*", text) == ["Dial(${FB_DIAL}"] * 4


def test_a_queue_rings_the_named_phones_in_rounds_then_takes_a_message() -> None:
    contexts = parse(compile_fallback(load_menu(DEFAULT), message_silence=5))
    queue = contexts["fallback-queue-repair"].extensions["s"]
    assert queue.apps()[:3] == [
        "Set(FB_QUEUE=repair)",
        "Set(FB_QUEUED_AT=)",
        "AGI(${HOTLINE_FALLBACK_AGI}/queue,repair,${HOTLINE_CALL})",
    ]
    # No answer from the FastAGI fallback: the static layer rings every phone.
    assert "?fallback-static,s,ring)" in queue.apps()[3]
    assert queue.at("ring") == "Dial(${FB_DIAL},${FB_RING},m(${FB_MUSIC}))"
    assert "GotoIf($[${EPOCH} < ${FB_WAIT_UNTIL}]?ring)" in queue.apps()
    assert queue.at("busy") == "Set(FB_MAX_WAIT_AT=${EPOCH})"
    assert queue.at("talked") == "Set(FB_AGENT_HUNG_UP=yes)"
    assert "Goto(fallback-message,s,1)" in queue.apps()
    message = contexts["fallback-message"].extensions["s"].apps()
    # The default menu's message: 120 s at most, ended by 5 s of silence; kept on hang-up.
    assert "Record(${HOTLINE_RECORDINGS}/${FB_MESSAGE}.wav,5,120,k)" in message
    assert message[1] == "Set(FB_MESSAGE=messages/${HOTLINE_CALL})"


def test_tries_then_on_fail_with_the_menus_prompts(small: dict[str, Context]) -> None:
    top = small["fallback-menu-top"].extensions
    assert top["s"].apps()[:2] == ["Set(FB_TRIES=0)", "Set(FB_TRIES=$[${FB_TRIES} + 1])"]
    assert top["s"].at("prompt") == "Set(FB_TRIES=$[${FB_TRIES} + 1])"
    assert top["s"].apps()[-1] == "WaitExten(4)"
    for exten, prompt in (("i", "invalid-key"), ("t", "no-input")):
        assert top[exten].apps() == [
            f"Playback({say(prompt)})",
            "GotoIf($[${FB_TRIES} < 2]?fallback-menu-top,s,prompt)",
            "Goto(fallback-menu-bye,s,1)",
        ]
    assert small["fallback-menu-bye"].extensions["s"].apps() == [
        f"Playback({say('goodbye')})",
        "Hangup()",
    ]


def test_keys_lead_to_queues_and_zero_to_a_person(small: dict[str, Context]) -> None:
    top = small["fallback-menu-top"].extensions
    assert sorted(top) == ["*", "0", "1", "2", "8", "i", "s", "t"]
    assert top["2"].apps() == ["Goto(fallback-queue-sales,s,1)"]
    assert top["0"].apps() == ["Goto(fallback-queue-general,s,1)"]
    assert top["1"].apps() == ["Goto(fallback-queue-general,s,1)"]  # no PIN: a person
    assert top["*"].apps() == ["Goto(fallback-menu-top,s,prompt)"]
    queue = small["fallback-queue-sales"].extensions["s"].apps()
    assert queue[2] == "AGI(${HOTLINE_FALLBACK_AGI}/queue,sales,${HOTLINE_CALL})"
    # A menu without a message node still takes messages, with the catalogue's prompt.
    message = small["fallback-message"].extensions["s"].apps()
    assert f"Playback({say('leave-message')})" in message
    assert "Record(${HOTLINE_RECORDINGS}/${FB_MESSAGE}.wav,5,120,k)" in message


def test_hours_close_on_closed_holidays_by_full_date(small: dict[str, Context]) -> None:
    hours = small["fallback-menu-hours"].extensions["s"]
    apps = hours.apps()
    assert 'GotoIf($["${FB_TODAY}" = "2027-02-06"]?closed)' in apps
    assert "2026-10-01" not in " ".join(apps)  # a holiday that stays open
    spans = [a for a in apps if a.startswith("GotoIfTime(")]
    assert spans == [
        f"GotoIfTime(08:30-17:59,{day},*,*,Asia/Shanghai?open)"
        for day in ("mon", "tue", "wed", "thu", "fri")
    ]
    assert apps.index('GotoIf($["${FB_TODAY}" = "2027-02-06"]?closed)') < apps.index(spans[0])
    assert hours.at("open") == "Goto(fallback-menu-hello,s,1)"
    entry = small["fallback-menu"].extensions["s"].apps()
    assert "Set(FB_TODAY=${STRFTIME(${EPOCH},Asia/Shanghai,%Y-%m-%d)})" in entry


def test_english_first_menus_say_english_first(tmp_path: Path) -> None:
    text = SMALL.replace("start: hours", "start: hours\n  language: en")
    contexts = parse(compile_fallback(parse_menu(tmp_path / "en.yaml", text)))
    apps = contexts["fallback-menu-bye"].extensions["s"].apps()
    assert both("goodbye", "en", "zh") in apps[0]


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("queue: sales,", "queue: 'sales,1)',", "queue"),
        ("prompt: goodbye", "prompt: 'goodbye&/etc/passwd'", "prompt"),
        ("prompt: main-menu", "prompt: '${SHELL}'", "prompt"),
    ],
)
def test_an_unsafe_name_is_refused(tmp_path: Path, old: str, new: str, kind: str) -> None:
    assert old in SMALL
    menu = parse_menu(tmp_path / "bad.yaml", SMALL.replace(old, new))
    with pytest.raises(DialplanError) as refused:
        compile_fallback(menu)
    assert refused.value.error_id == "unsafe-dialplan-name"
    assert refused.value.details["kind"] == kind
    assert "cannot go into the dialplan" in refused.value.message


def test_names_the_loader_never_makes_are_refused_too(tmp_path: Path) -> None:
    """The compiler checks for itself: a ``Menu`` need not come from the loader."""
    menu = parse_menu(tmp_path / "small.yaml", SMALL)
    zone = replace(menu, hours=replace(menu.hours, timezone="Asia/Shanghai?x"))
    nodes = dict(menu.nodes, hours=HoursNode("hours", open="x),Dial(PJSIP/1", closed="bye"))
    for bad, kind in ((zone, "timezone"), (replace(menu, nodes=nodes), "node")):
        with pytest.raises(DialplanError) as refused:
            compile_fallback(bad)
        assert refused.value.details["kind"] == kind


def test_the_pbx_gets_the_compiled_menu_and_a_refused_menu_leaves_it_none(
    tmp_path: Path,
) -> None:
    """The menu file is compiled into the PBX's includes (fallback-menu.conf); one the
    compiler refuses gives a comment saying why, and the hotline still starts."""
    config = load_config(None, {"HOTLINE_STATE_DIR": str(tmp_path)})
    written = render_includes(pbx_spec(config, ensure_secrets(tmp_path)))["fallback-menu.conf"]
    assert "\n[fallback-menu]\n" in written and "[fallback-menu-main]" in written
    menu_text = DEFAULT_MENU.read_text(encoding="utf-8")
    assert "prompt: main-menu" in menu_text
    unsafe = tmp_path / "menu.yaml"
    unsafe.write_text(menu_text.replace("prompt: main-menu", "prompt: '${SHELL}'"), "utf-8")
    config = load_config(
        None, {"HOTLINE_STATE_DIR": str(tmp_path), "HOTLINE_MENU_FILE": str(unsafe)}
    )
    written = render_includes(pbx_spec(config, ensure_secrets(tmp_path)))["fallback-menu.conf"]
    assert written.startswith("; no fallback menu:") and "\n[" not in written
