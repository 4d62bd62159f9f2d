"""Report charts are real PNG files, empty input included; the text table's rows and gaps."""

from __future__ import annotations

from pathlib import Path

from reports.charts import write_charts
from reports.kpis import kpis
from reports.tables import render
from tests.unit.test_kpis import log

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5_000  # axes, bars and text, not a blank stub


def test_charts(tmp_path: Path) -> None:
    calls = log()
    paths = write_charts(kpis(calls, "hour"), kpis(calls, "queue"), tmp_path / "out")
    assert [p.name for p in paths] == ["calls-by-hour.png", "queues.png"]
    for path in paths:
        assert path.parent == tmp_path / "out"
        assert_png(path)


def test_charts_many_hours_and_odd_names(tmp_path: Path) -> None:
    row = kpis(log(), "all")["all"]
    hours = {f"2025-03-{d:02} {h:02}": row for d in range(1, 31) for h in range(24)}
    queues = kpis(log(), "queue")
    queues["售后"] = queues.pop("sales")  # no CJK fonts here: labels go out as ASCII
    callback_only = [call for call in log() if call.call_id == "c5"]
    queues["callbacks"] = kpis(callback_only, "all")["all"]  # no rates: "n/a"
    assert queues["callbacks"].service_level is None
    for path in write_charts(hours, queues, tmp_path):
        assert_png(path)


def test_charts_empty(tmp_path: Path) -> None:
    paths = write_charts({}, {}, tmp_path)
    assert len(paths) == 2
    for path in paths:
        assert_png(path)


def test_table() -> None:
    text = render(kpis(log(), "queue"), "queue")
    lines = text.splitlines()
    header = "queue offered answered abandoned abandon% SL% ASA s AHT s transfers callbacks"
    assert lines[0].split() == [*header.split(), "CSAT%", "surveys"]
    assert [line.split()[0] for line in lines[2:]] == ["billing", "sales", "support"]
    support = lines[4].split()
    # offered, answered, abandoned, abandon% = 1/4, SL% = 2/4, ASA 23/2, AHT (90+20)/2
    assert support[:8] == ["support", "5", "2", "1", "25.0", "50.0", "11.5", "55.0"]
    assert support[-2:] == ["-", "0"]  # no survey rated 1-3: no CSAT
    assert len({len(line) for line in lines[:2]}) == 1  # header and rule line up


def test_table_call_columns() -> None:
    text = render(kpis(log(), "number"), "number")
    header, _, a, b = text.splitlines()
    assert header.split()[-3:] == ["calls", "cb", "asked"]
    assert a.split()[0] == "4008001" and a.split()[-2:] == ["6", "1"]
    assert b.split()[0] == "4008002" and b.split()[-2:] == ["5", "1"]


def test_table_empty() -> None:
    assert render({}, "hour").splitlines()[-1] == "(no calls)"
    assert render(kpis([], "all"), "all").splitlines()[2].split() == [
        "all",
        *["0", "0", "0", "-", "-", "-", "-", "0", "0", "-", "0"],
        *["0", "0"],
    ]
