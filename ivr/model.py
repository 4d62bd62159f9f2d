"""The voice menu as admins write it (see ivr/default-menu.yaml), as typed, frozen values.

A ``Menu`` is immutable: a call keeps the version it started with while a reload builds
a new one for the calls after it.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from ivr.line.classifier import LineClass, Thresholds

DTMF_KEYS = frozenset("0123456789*#")
PRIORITY_MIN, PRIORITY_MAX = 1, 9  # per-number and per-queue priority; 9 is most urgent


@dataclass(frozen=True)
class Defaults:
    timeout: float = 5.0  # seconds to wait for a key (peers' default)
    tries: int = 3
    invalid_prompt: str = "invalid-key"
    timeout_prompt: str = "no-input"
    agent: str = ""  # node that "0" reaches from any menu level; empty: no such shortcut


@dataclass(frozen=True)
class NumberPlan:
    number: str
    priority: int = 5


@dataclass(frozen=True)
class Holiday:
    date: dt.date
    name: str
    prompt: str = ""  # added after the greeting, e.g. 「国庆节快乐」
    closed: bool = False


@dataclass(frozen=True)
class Hours:
    timezone: str = "Asia/Shanghai"
    # weekday (0 = Monday) -> list of (open, close) times
    weekly: dict[int, tuple[tuple[dt.time, dt.time], ...]] = field(default_factory=dict)
    holidays: dict[dt.date, Holiday] = field(default_factory=dict)


@dataclass(frozen=True)
class LineStep:
    """One step of a line sequence: say ``prompt``, then listen ``wait`` seconds."""

    prompt: str
    wait: float


# The service standards' sequences (R-3.1 to R-3.4); after the last step: hang up.
STANDARD_SEQUENCES: dict[LineClass, tuple[LineStep, ...]] = {
    LineClass.SILENT: (LineStep("line-silent-hello", 5.0), LineStep("line-silent-bye", 5.0)),
    LineClass.OPEN_LINE: (LineStep("line-open-hello", 3.0), LineStep("line-open-bye", 0.0)),
    LineClass.NOISY: (LineStep("line-noisy-louder", 3.0), LineStep("line-noisy-bye", 5.0)),
    LineClass.QUIET: (LineStep("line-quiet-louder", 5.0), LineStep("line-quiet-bye", 5.0)),
}
SEQUENCE_CLASSES = tuple(STANDARD_SEQUENCES)


@dataclass(frozen=True)
class LineCheck:
    """Where and how the caller's line is checked when a key wait ends with nothing.

    ``nodes`` None means every node that waits for a key; an empty set turns it off."""

    nodes: frozenset[str] | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    sequences: dict[LineClass, tuple[LineStep, ...]] = field(
        default_factory=lambda: dict(STANDARD_SEQUENCES)
    )
    speech_window: float = 1.5  # seconds of speech that take a caller out of a sequence

    def applies_to(self, node_id: str) -> bool:
        return self.nodes is None or node_id in self.nodes

    @property
    def enabled(self) -> bool:
        return self.nodes is None or bool(self.nodes)


# --- nodes ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Node:
    id: str

    def targets(self) -> dict[str, str]:
        """Every node this one can lead to, by the field that names it."""
        return {}

    @property
    def waits_for_input(self) -> bool:
        return False


@dataclass(frozen=True)
class MenuNode(Node):
    prompt: str
    keys: dict[str, str]
    timeout: float
    tries: int
    invalid_prompt: str
    timeout_prompt: str
    on_fail: str
    star: str = "back"  # "back" to the previous menu, or "repeat" this one
    zero: str = ""  # "0" to a person (inherited from defaults.agent)

    def targets(self) -> dict[str, str]:
        found = {f"keys.{k}": v for k, v in self.keys.items()}
        found["on_fail"] = self.on_fail
        if self.zero:
            found["zero"] = self.zero
        return found

    @property
    def waits_for_input(self) -> bool:
        return True


@dataclass(frozen=True)
class PlayNode(Node):
    prompts: tuple[str, ...]
    next: str
    barge_in: bool = True
    holiday_greeting: bool = False  # add today's holiday prompt

    def targets(self) -> dict[str, str]:
        return {"next": self.next}


@dataclass(frozen=True)
class InputNode(Node):
    prompt: str
    min_digits: int
    max_digits: int
    store: str  # the call variable that receives the digits
    readback: str  # prompt before reading the digits back, empty: no read-back
    confirm: str  # 「确认请按1,重新输入请按2」
    next: str
    on_fail: str
    timeout: float
    tries: int

    def targets(self) -> dict[str, str]:
        return {"next": self.next, "on_fail": self.on_fail}

    @property
    def waits_for_input(self) -> bool:
        return True


@dataclass(frozen=True)
class PinLock:
    """Wrong PINs are counted per account across calls: ``failures`` of them within
    ``within`` lock the account for ``duration`` (or until an admin unlocks it)."""

    failures: int = 6  # two calls' worth of the default three tries
    within: dt.timedelta = dt.timedelta(minutes=60)
    duration: dt.timedelta = dt.timedelta(minutes=60)


class PinCheck(enum.StrEnum):
    """What checking an entered PIN found."""

    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"  # the account is locked: the PIN was not even compared


@dataclass(frozen=True)
class VerifyNode(Node):
    prompt: str  # 「请输入密码,以#号键结束」
    account: str  # the call variable holding the account number
    wrong_prompt: str
    tries: int
    ok: str
    fail: str  # too many wrong PINs in this call, or the account is locked
    timeout: float
    lock: PinLock = field(default_factory=PinLock)

    def targets(self) -> dict[str, str]:
        return {"ok": self.ok, "fail": self.fail}

    @property
    def waits_for_input(self) -> bool:
        return True


@dataclass(frozen=True)
class QueueNode(Node):
    queue: str
    skills: tuple[str, ...]
    priority: int | None  # None: the dialled number's priority
    fallback: str  # until the ACD lands (and when it cannot take the call): a transfer

    def targets(self) -> dict[str, str]:
        return {"fallback": self.fallback}


@dataclass(frozen=True)
class TransferNode(Node):
    to: str  # "agent:<extension>" or "outside:<number>"
    prompt: str
    on_fail: str
    ring_seconds: int = 20

    def targets(self) -> dict[str, str]:
        return {"on_fail": self.on_fail}


@dataclass(frozen=True)
class MessageNode(Node):
    prompt: str
    max_seconds: int
    next: str

    def targets(self) -> dict[str, str]:
        return {"next": self.next}

    @property
    def waits_for_input(self) -> bool:
        return True  # the caller speaks; the node ends on # or silence


@dataclass(frozen=True)
class CallbackNode(Node):
    prompt: str
    next: str

    def targets(self) -> dict[str, str]:
        return {"next": self.next}


@dataclass(frozen=True)
class HoursNode(Node):
    open: str
    closed: str

    def targets(self) -> dict[str, str]:
        return {"open": self.open, "closed": self.closed}


@dataclass(frozen=True)
class LanguageNode(Node):
    language: str
    next: str

    def targets(self) -> dict[str, str]:
        return {"next": self.next}


@dataclass(frozen=True)
class HangupNode(Node):
    prompt: str = "goodbye"


@dataclass(frozen=True)
class Menu:
    path: str
    version: str  # content hash: what a call started on
    name_zh: str
    name_en: str
    language: str
    numbers: dict[str, NumberPlan]
    hours: Hours
    defaults: Defaults
    start: str
    nodes: dict[str, Node]
    line_check: LineCheck = field(default_factory=LineCheck)

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def priority_for(self, dialled: str) -> int:
        plan = self.numbers.get(dialled)
        return plan.priority if plan else 5
