"""KPI charts as PNG files.

Each chart gets its own Figure drawn by the Agg canvas: no pyplot, so no global figure
state and no GUI backend, which matters in a server process and in tests. Labels are
forced to ASCII because the machines have no CJK fonts (a missing glyph is a warning,
and an empty box in the picture).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from reports.kpis import Kpis

HOURS_FILE = "calls-by-hour.png"
QUEUES_FILE = "queues.png"
MAX_BARS = 72  # buckets drawn as grouped bars; more are drawn as lines
MAX_TICK_LABELS = 24  # more would overlap; every n-th bucket is labelled instead
DPI = 100


def write_charts(
    per_hour: Mapping[str, Kpis], per_queue: Mapping[str, Kpis], folder: Path
) -> list[Path]:
    """Write calls-by-hour.png and queues.png into ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    hours, queues = folder / HOURS_FILE, folder / QUEUES_FILE
    _save(_calls_by_hour(per_hour), hours)
    _save(_queues(per_queue), queues)
    return [hours, queues]


def _calls_by_hour(rows: Mapping[str, Kpis]) -> Figure:
    keys = sorted(rows)
    figure = _figure(len(keys))
    axes = figure.add_subplot()
    axes.set_title("Calls by hour")
    axes.set_ylabel("queue visits")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 2.5 visits
    series = [
        ("offered", [rows[k].offered for k in keys]),
        ("answered", [rows[k].answered for k in keys]),
        ("abandoned", [rows[k].abandoned for k in keys]),
    ]
    _draw_series(axes, keys, series)
    axes.set_ylim(bottom=0)
    return figure


def _queues(rows: Mapping[str, Kpis]) -> Figure:
    keys = sorted(rows)
    figure = _figure(len(keys))
    axes = figure.add_subplot()
    axes.set_title(f"Service level (answered within {_threshold(rows)} s) and abandon rate")
    axes.set_ylabel("% of visits (callbacks excluded)")
    axes.set_ylim(0, 105)
    sl = [rows[k].service_level for k in keys]
    abandon = [rows[k].abandon_rate for k in keys]
    series = [("service level %", _percents(sl)), ("abandon rate %", _percents(abandon))]
    _draw_series(axes, keys, series)
    # A queue with nothing to divide by has no rate: say so rather than draw a 0 %.
    for i, (a, b) in enumerate(zip(sl, abandon, strict=True)):
        if a is None and b is None:
            axes.text(i, 2, "n/a", ha="center", fontsize=8)
    return figure


def _draw_series(
    axes: Axes, keys: Sequence[str], series: Sequence[tuple[str, Sequence[float]]]
) -> None:
    if not keys:
        axes.text(0.5, 0.5, "no calls", ha="center", va="center", transform=axes.transAxes)
        axes.set_xticks([])
        axes.set_yticks([])
        return
    if len(keys) > MAX_BARS:
        # A month of hours as bars would be a blur of two-pixel bars: draw steps.
        for label, values in series:
            axes.plot(range(len(keys)), values, label=label, drawstyle="steps-mid")
    else:
        width = 0.8 / len(series)
        for n, (label, values) in enumerate(series):
            offset = (n - (len(series) - 1) / 2) * width
            axes.bar([i + offset for i in range(len(keys))], values, width, label=label)
    step = max(1, -(-len(keys) // MAX_TICK_LABELS))  # ceil: at most MAX_TICK_LABELS
    ticks = list(range(0, len(keys), step))
    axes.set_xticks(ticks, [_ascii(keys[i]) or "(none)" for i in ticks], rotation=45, ha="right")
    axes.legend()


def _figure(buckets: int) -> Figure:
    # Wider for more buckets, within what an e-mail or a screen shows comfortably.
    figure = Figure(figsize=(min(16.0, max(6.0, 0.4 * buckets + 3)), 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> None:
    figure.savefig(path, format="png", dpi=DPI)


def _percents(rates: Sequence[float | None]) -> list[float]:
    return [0.0 if rate is None else rate * 100 for rate in rates]


def _threshold(rows: Mapping[str, Kpis]) -> str:
    thresholds = {kpis.threshold for kpis in rows.values()} or {20.0}
    return "/".join(f"{t:g}" for t in sorted(thresholds))


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")
