"""KPI rows as a fixed-width text table, for terminals and plain-text mail."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from reports.kpis import CALL_DIMENSIONS, Kpis

NONE = "-"

Column = tuple[str, Callable[[Kpis], str]]

COLUMNS: list[Column] = [
    ("offered", lambda k: str(k.offered)),
    ("answered", lambda k: str(k.answered)),
    ("abandoned", lambda k: str(k.abandoned)),
    ("abandon%", lambda k: _percent(k.abandon_rate)),
    ("SL%", lambda k: _percent(k.service_level)),
    ("ASA s", lambda k: _number(k.asa)),
    ("AHT s", lambda k: _number(k.aht)),
    ("transfers", lambda k: str(k.transfers)),
    ("callbacks", lambda k: str(k.callbacks)),
    ("CSAT%", lambda k: _percent(k.satisfaction)),
    # The CSAT base: surveys answered 1, 2 or 3.
    ("surveys", lambda k: str(k.rated)),
]
# Only rows that are calls as well as visits (see reports.kpis) have these.
CALL_COLUMNS: list[Column] = [
    ("calls", lambda k: _count(k.calls)),
    ("cb asked", lambda k: _count(k.callbacks_requested)),
]


def render(rows: Mapping[str, Kpis], by: str) -> str:
    """A header, a rule, then one line per row: the key left-aligned, numbers right-aligned,
    "-" where a figure does not apply (nothing to divide by)."""
    columns = COLUMNS + (CALL_COLUMNS if by in CALL_DIMENSIONS else [])
    header = [by, *(name for name, _ in columns)]
    body = [[key, *(cell(kpis) for _, cell in columns)] for key, kpis in rows.items()]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [_line(header, widths), "  ".join("-" * width for width in widths)]
    lines += [_line(line, widths) for line in body]
    if not body:
        lines.append("(no calls)")
    return "\n".join(lines) + "\n"


def _line(cells: list[str], widths: list[int]) -> str:
    key, *numbers = cells
    parts = [key.ljust(widths[0])]
    parts += [cell.rjust(width) for cell, width in zip(numbers, widths[1:], strict=True)]
    return "  ".join(parts).rstrip()


def _percent(rate: float | None) -> str:
    return NONE if rate is None else f"{rate * 100:.1f}"


def _number(seconds: float | None) -> str:
    return NONE if seconds is None else f"{seconds:.1f}"


def _count(count: int | None) -> str:
    return NONE if count is None else str(count)
