"""Blacklist matching: exact numbers beat prefixes, the longest prefix wins."""

from __future__ import annotations

from datetime import UTC, datetime

from ivr.blacklist import Action, BlacklistEntry, match


def entry(pattern: str, prefix: bool, action: Action) -> BlacklistEntry:
    return BlacklistEntry(
        pattern=pattern, prefix=prefix, action=action.value, reason="", created_at=datetime.now(UTC)
    )


ENTRIES = [
    entry("170", True, Action.SILENT),
    entry("1701", True, Action.REFUSE),
    entry("17000000000", False, Action.REFUSE),
    entry("13800138000", False, Action.SILENT),
]


def test_matching_precedence() -> None:
    assert match(ENTRIES, "17099999999") == match(ENTRIES[:1], "17099999999")
    assert match(ENTRIES, "17099999999").action is Action.SILENT  # type: ignore[union-attr]
    assert match(ENTRIES, "17012345678").pattern == "1701"  # type: ignore[union-attr]
    assert match(ENTRIES, "17000000000").pattern == "17000000000"  # type: ignore[union-attr]
    assert match(ENTRIES, "13800138000").action is Action.SILENT  # type: ignore[union-attr]
    assert match(ENTRIES, "13800138001") is None
    assert match(ENTRIES, "1380013800") is None
