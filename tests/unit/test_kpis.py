"""Report KPIs from a hand-written event log; every expected value is worked out by hand."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from reports.kpis import CallFacts, Kpis, LoggedEvent, kpis, visits

A, B = "4008001", "4008002"  # the two hotline numbers
BASE = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
HOUR = timedelta(hours=1)


def call(
    call_id: str, dialled: str, start: datetime, *events: tuple[float, str, dict[str, Any]]
) -> CallFacts:
    """A call whose events are given as (seconds after the start, kind, data)."""
    return CallFacts(
        call_id=call_id,
        dialled=dialled,
        caller="13800138000",
        started_at=start,
        events=[LoggedEvent(start + timedelta(seconds=s), kind, data) for s, kind, data in events],
    )


def waiting(queue: str, region: str) -> dict[str, Any]:
    return {"queue": queue, "region": region, "vip": False, "preferred": "", "position": 1}


def log() -> list[CallFacts]:
    return [
        # c1: answered within the threshold (5 s); held 30 s; talk 195-15-30 = 150; wrap 30.
        call(
            "c1",
            A,
            BASE,
            (0, "started", {"dialled": A, "caller": "13800138000"}),
            (10, "waiting", waiting("sales", "beijing")),
            (12, "offer", {"agent": "alice", "extension": "8001", "queue": "sales"}),
            (15, "answered", {"agent": "alice", "queue": "sales", "wait": 5.0}),
            (20, "action", {"action": "mute", "by": "alice"}),
            (75, "action", {"action": "hold", "by": "alice"}),
            (105, "action", {"action": "resume", "by": "alice"}),
            (195, "caller-hung-up", {"agent": "alice"}),
            (196, "survey", {"agent": "alice", "queue": "sales", "result": "1"}),
            (200, "ended", {"disposition": "answered"}),
            (225, "wrap-up", {"agent": "alice", "seconds": 30}),
        ),
        # c2: answered beyond the threshold (25 s) after a failed offer; talk 150-30 = 120.
        call(
            "c2",
            A,
            BASE + HOUR,
            (5, "waiting", waiting("sales", "shanghai")),
            (10, "offer", {"agent": "carol", "extension": "8003", "queue": "sales"}),
            (20, "offer-failed", {"agent": "carol", "outcome": "no-answer"}),
            (30, "answered", {"agent": "bob", "queue": "sales", "wait": 25.0}),
            (150, "agent-hung-up", {"agent": "bob"}),
            (160, "survey", {"agent": "bob", "queue": "sales", "result": "2"}),
            (170, "ended", {"disposition": "answered"}),
            (175, "wrap-up", {"agent": "bob", "seconds": 10}),
        ),
        # c3: abandoned after 40 s, region unknown.
        call(
            "c3",
            B,
            BASE + HOUR,
            (3, "waiting", waiting("support", "")),
            (20, "announcement", {"prompts": ["queue-sorry"], "position": 1}),
            (43, "abandoned", {"queue": "support", "wait": 40.0}),
            (43, "ended", {"disposition": "abandoned"}),
        ),
        # c4: overflow sales -> support, answered by carol (3 s), who transfers to billing
        # after 60 s; a second visit answered by dave (12 s), held from 136 s to his
        # hang-up at 166 s: talk 166-76-30 = 60.
        call(
            "c4",
            A,
            BASE + 2 * HOUR,
            (0, "waiting", waiting("sales", "beijing")),
            (2, "overflow", {"queue": "sales", "to": "support"}),
            (3, "answered", {"agent": "carol", "queue": "support", "wait": 3.0}),
            (63, "action", {"action": "transfer-queue", "by": "carol"}),
            (64, "waiting", waiting("billing", "beijing")),
            (76, "answered", {"agent": "dave", "queue": "billing", "wait": 12.0}),
            (136, "action", {"action": "hold", "by": "dave"}),
            (166, "agent-hung-up", {"agent": "dave"}),
            (170, "survey", {"agent": "dave", "queue": "billing", "result": "3"}),
            (171, "ended", {"disposition": "answered"}),
            (180, "wrap-up", {"agent": "carol", "seconds": 20}),
            (190, "wrap-up", {"agent": "dave", "seconds": 15}),
        ),
        # c5: the caller presses 1 for a callback after 50 s.
        call(
            "c5",
            B,
            BASE + 2 * HOUR,
            (0, "waiting", waiting("support", "guangzhou")),
            (50, "queue-callback", {"queue": "support", "wait": 50.0}),
            (51, "callback", {"number": "13800138000"}),
            (60, "ended", {"disposition": "callback"}),
        ),
        # c6: the longest wait, then a message.
        call(
            "c6",
            B,
            BASE + 3 * HOUR,
            (0, "waiting", waiting("support", "guangzhou")),
            (120, "max-wait", {"queue": "support", "wait": 120.0}),
            (130, "message", {}),
            (190, "ended", {"disposition": "message"}),
        ),
        # c7: a callback asked for in the menu: no queue visit.
        call(
            "c7",
            A,
            BASE + 3 * HOUR,
            (0, "started", {"dialled": A, "caller": "13800138000"}),
            (20, "callback", {"number": "13800138000"}),
            (30, "ended", {"disposition": "callback"}),
        ),
        # c8: another day and month in Shanghai (01:30 on 1 April), still March in UTC.
        call(
            "c8",
            A,
            datetime(2025, 3, 31, 17, 30, tzinfo=UTC),
            (0, "waiting", waiting("sales", "beijing")),
            (8, "answered", {"agent": "alice", "queue": "sales", "wait": 8.0}),
            (48, "agent-hung-up", {"agent": "alice"}),
            (49, "survey", {"agent": "alice", "queue": "sales", "result": "invalid"}),
            (60, "ended", {"disposition": "answered"}),
            (65, "wrap-up", {"agent": "alice", "seconds": 5}),
        ),
        # c9: answered at exactly the threshold (20 s counts as within); no wrap-up logged.
        call(
            "c9",
            B,
            BASE + 4 * HOUR,
            (0, "waiting", waiting("support", "")),
            (20, "answered", {"agent": "bob", "queue": "support", "wait": 20.0}),
            (50, "agent-hung-up", {"agent": "bob"}),
            (55, "survey", {"agent": "bob", "queue": "support", "result": "no-key"}),
            (56, "ended", {"disposition": "answered"}),
        ),
        # c10: answered after 30 s, 45 s of talk.
        call(
            "c10",
            A,
            BASE + 4 * HOUR,
            (0, "waiting", waiting("billing", "shanghai")),
            (30, "answered", {"agent": "dave", "queue": "billing", "wait": 30.0}),
            (75, "agent-hung-up", {"agent": "dave"}),
            (76, "survey", {"agent": "dave", "queue": "billing", "result": "hung-up"}),
            (76, "ended", {"disposition": "answered"}),
        ),
        # c11: answered after 2 s, 20 s of talk, the survey switched off, wrap 4.
        call(
            "c11",
            B,
            BASE + 5 * HOUR,
            (0, "waiting", waiting("sales", "shanghai")),
            (2, "answered", {"agent": "carol", "queue": "sales", "wait": 2.0}),
            (22, "agent-hung-up", {"agent": "carol"}),
            (22, "survey", {"agent": "carol", "queue": "sales", "result": "off"}),
            (23, "ended", {"disposition": "answered"}),
            (27, "wrap-up", {"agent": "carol", "seconds": 4}),
        ),
    ]


def test_visits() -> None:
    found = [(v.call_id, v.queue, v.outcome, v.agent, v.region) for v in visits(log())]
    assert found == [
        ("c1", "sales", "answered", "alice", "beijing"),
        ("c2", "sales", "answered", "bob", "shanghai"),
        ("c3", "support", "abandoned", "", "unknown"),
        ("c4", "support", "answered", "carol", "beijing"),  # where the overflow took it
        ("c4", "billing", "answered", "dave", "beijing"),
        ("c5", "support", "callback", "", "guangzhou"),
        ("c6", "support", "message", "", "guangzhou"),
        ("c8", "sales", "answered", "alice", "beijing"),
        ("c9", "support", "answered", "bob", "unknown"),
        ("c10", "billing", "answered", "dave", "shanghai"),
        ("c11", "sales", "answered", "carol", "shanghai"),
    ]
    c1, _, _, carol, dave, *_ = visits(log())
    assert (c1.talk, c1.hold, c1.wrap, c1.surveys) == (195 - 15 - 30, 105 - 75, 30, ("1",))
    assert (carol.talk, carol.transferred, carol.wrap) == (63 - 3, True, 20)
    assert carol.start == BASE + 2 * HOUR  # the overflow keeps the visit's start
    # The hold never resumed ends with the conversation.
    assert (dave.talk, dave.hold, dave.transferred) == (166 - 76 - 30, 166 - 136, False)
    assert dave.start == BASE + 2 * HOUR + timedelta(seconds=64)


def test_all() -> None:
    rows = kpis(log(), "all")
    assert list(rows) == ["all"]
    k = rows["all"]
    assert (k.offered, k.answered, k.abandoned) == (11, 8, 1)
    assert (k.callbacks, k.messages, k.other) == (1, 1, 0)
    assert k.answered_within == 6  # waits 5, 3, 12, 8, 20, 2
    assert k.abandon_rate == 1 / (11 - 1)
    assert k.service_level == 6 / (11 - 1)
    assert k.asa == (5 + 25 + 3 + 12 + 8 + 20 + 30 + 2) / 8
    assert k.talk == 150 + 120 + 60 + 60 + 40 + 30 + 45 + 20
    assert k.hold == 30 + 30
    assert k.wrap == 30 + 10 + 20 + 15 + 5 + 4
    assert k.aht == (525 + 60 + 84) / 8
    assert (k.transfers, k.transfer_rate) == (1, 1 / 8)
    results = ["1", "2", "3", "invalid", "no-key", "hung-up", "off"]
    assert k.surveys == dict.fromkeys(results, 1)
    assert (k.rated, k.satisfaction) == (3, 1 / 3)
    assert (k.calls, k.callbacks_requested) == (11, 2)  # c5 in its queue, c7 in the menu
    assert k.threshold == 20


def test_threshold() -> None:
    k = kpis(log(), "all", threshold=10)["all"]
    assert k.answered_within == 4  # waits 5, 3, 8, 2
    assert k.service_level == 4 / (11 - 1)
    assert k.threshold == 10


def test_by_queue() -> None:
    rows = kpis(log(), "queue")
    assert list(rows) == ["billing", "sales", "support"]
    sales, support, billing = rows["sales"], rows["support"], rows["billing"]

    assert (sales.offered, sales.answered, sales.answered_within) == (4, 4, 3)
    assert sales.abandon_rate == 0 / 4
    assert sales.service_level == 3 / 4
    assert sales.asa == (5 + 25 + 8 + 2) / 4
    assert (sales.talk, sales.hold, sales.wrap) == (150 + 120 + 40 + 20, 30, 30 + 10 + 5 + 4)
    assert sales.aht == (330 + 30 + 49) / 4
    assert sales.surveys == {"1": 1, "2": 1, "invalid": 1, "off": 1}
    assert sales.satisfaction == 1 / 2

    assert (support.offered, support.answered, support.abandoned) == (5, 2, 1)
    assert (support.callbacks, support.messages) == (1, 1)
    assert support.abandon_rate == 1 / (5 - 1)
    assert support.service_level == 2 / (5 - 1)
    assert support.asa == (3 + 20) / 2
    assert (support.talk, support.hold, support.wrap) == (60 + 30, 0, 20)
    assert (support.transfers, support.transfer_rate) == (1, 1 / 2)
    assert support.surveys == {"no-key": 1}
    assert support.satisfaction is None  # nothing rated 1-3
    # Call-level figures belong to hotline numbers, not queues.
    assert support.calls is None and support.callbacks_requested is None

    assert (billing.offered, billing.answered, billing.answered_within) == (2, 2, 1)
    assert billing.asa == (12 + 30) / 2
    assert (billing.talk, billing.hold, billing.wrap) == (60 + 45, 30, 15)
    assert billing.satisfaction == 0 / 1


def test_by_agent() -> None:
    rows = kpis(log(), "agent")
    assert list(rows) == ["alice", "bob", "carol", "dave"]
    alice, bob, carol, dave = rows.values()
    # Only answered visits count for agents.
    assert [(k.offered, k.answered, k.abandoned) for k in rows.values()] == [(2, 2, 0)] * 4
    assert alice.asa == (5 + 8) / 2
    assert (alice.talk, alice.hold, alice.wrap) == (150 + 40, 30, 30 + 5)
    assert alice.aht == (190 + 30 + 35) / 2
    assert (alice.surveys, alice.satisfaction) == ({"1": 1, "invalid": 1}, 1 / 1)
    assert (bob.asa, bob.talk, bob.wrap) == ((25 + 20) / 2, 120 + 30, 10)
    assert bob.satisfaction == 0 / 1
    assert (carol.talk, carol.wrap) == (60 + 20, 20 + 4)
    assert (carol.transfers, carol.transfer_rate) == (1, 1 / 2)
    assert carol.satisfaction is None
    assert (dave.talk, dave.hold, dave.wrap) == (60 + 45, 30, 15)
    assert dave.surveys == {"3": 1, "hung-up": 1}


def test_by_number() -> None:
    rows = kpis(log(), "number")
    assert list(rows) == [A, B]
    a, b = rows[A], rows[B]
    assert (a.calls, a.offered, a.answered, a.callbacks_requested) == (6, 6, 6, 1)  # c7's
    assert a.transfers == 1
    assert (b.calls, b.offered, b.answered, b.abandoned) == (5, 5, 2, 1)
    assert (b.callbacks, b.messages) == (1, 1)
    assert b.callbacks_requested == 1  # c5's
    assert b.abandon_rate == 1 / (5 - 1)


def test_by_region() -> None:
    rows = kpis(log(), "region")
    assert {key: k.offered for key, k in rows.items()} == {
        "beijing": 4,  # c1, c4 twice, c8
        "guangzhou": 2,
        "shanghai": 3,
        "unknown": 2,  # "" in the log
    }
    assert rows["unknown"].abandoned == 1
    assert rows["guangzhou"].abandon_rate == 0 / (2 - 1)


def test_by_time() -> None:
    hours = kpis(log(), "hour")
    assert {key: k.offered for key, k in hours.items()} == {
        "2025-03-03 09": 1,
        "2025-03-03 10": 2,
        "2025-03-03 11": 3,  # c4's two visits and c5
        "2025-03-03 12": 1,
        "2025-03-03 13": 2,
        "2025-03-03 14": 1,
        "2025-04-01 01": 1,  # c8, 17:30 UTC on 31 March
    }
    assert hours["2025-03-03 10"].abandoned == 1
    days = kpis(log(), "day")
    assert {key: k.offered for key, k in days.items()} == {"2025-03-03": 10, "2025-04-01": 1}
    months = kpis(log(), "month")
    assert {key: k.offered for key, k in months.items()} == {"2025-03": 10, "2025-04": 1}
    assert months["2025-04"].asa == 8
    utc = kpis(log(), "month", tz="UTC")
    assert {key: k.offered for key, k in utc.items()} == {"2025-03": 11}


def test_as_dict_is_json() -> None:
    d = kpis(log(), "all")["all"].as_dict()
    assert d["satisfaction"] == 0.3333
    assert d["abandon_rate"] == 0.1
    assert d["asa"] == round(105 / 8, 1)
    assert d["surveys"]["off"] == 1
    assert json.loads(json.dumps(d)) == d


def test_errors() -> None:
    with pytest.raises(ValueError, match="unknown report grouping 'week'.*number, queue"):
        kpis(log(), "week")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        kpis(log(), "day", tz="Mars/Olympus")


def test_empty() -> None:
    assert visits([]) == []
    assert kpis([], "all") == {"all": Kpis(threshold=20, calls=0, callbacks_requested=0)}
    empty = kpis([], "all")["all"]
    assert (empty.abandon_rate, empty.service_level, empty.asa, empty.aht) == (None,) * 4
    assert (empty.transfer_rate, empty.satisfaction) == (None, None)
    for by in ("number", "queue", "agent", "region", "hour", "day", "month"):
        assert kpis([], by) == {}
    assert kpis(iter(log()), "all")["all"].offered == 11  # any iterable, read once


def test_loose_logs() -> None:
    """A log with naive (UTC) times, an answer with no wait logged before it, and a
    conversation still going: it ends at the last event so far."""
    start = datetime(2025, 3, 3, 2, 0)  # naive: UTC, as SQLite returns it
    events = [
        LoggedEvent(start + timedelta(seconds=10), "answered", {"agent": "x", "wait": 7}),
        LoggedEvent(start + timedelta(seconds=40), "action", {"action": "hold", "by": "x"}),
        LoggedEvent(start + timedelta(seconds=50), "action", {"action": "mute", "by": "x"}),
    ]
    facts = CallFacts("c", A, "", start, events)
    (visit,) = visits([facts])
    assert visit.start == datetime(2025, 3, 3, 2, 0, 3, tzinfo=UTC)
    assert (visit.outcome, visit.wait, visit.talk, visit.hold) == ("answered", 7, 30, 10)
    assert list(kpis([facts], "hour")) == ["2025-03-03 10"]


def test_resumed_and_rebuilt_waits() -> None:
    """A restarted controller logs ``waiting`` again for the same wait: still one visit.
    A log with no ``waiting`` at all still yields its visits, from the events' waits."""
    resumed = call(
        "r",
        A,
        BASE,
        (0, "waiting", waiting("sales", "beijing")),
        (30, "waiting", waiting("general", "beijing")),  # resumed after an overflow
        (45, "abandoned", {"queue": "general", "wait": 45.0}),
    )
    old = call(
        "o",
        B,
        BASE,
        (40, "abandoned", {"queue": "support", "wait": 40.0}),
        (100, "max-wait", {"queue": "support", "wait": 60.0}),
        (101, "callback", {"number": "13800138000"}),
    )
    found = [(v.call_id, v.queue, v.outcome, v.start, v.region) for v in visits([resumed, old])]
    assert found == [
        ("r", "general", "abandoned", BASE, "beijing"),
        ("o", "support", "abandoned", BASE, "unknown"),
        ("o", "support", "callback", BASE + timedelta(seconds=100 - 60), "unknown"),
    ]
