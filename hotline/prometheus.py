"""Prometheus text exposition, the few lines the core's /metrics sections share."""

from __future__ import annotations

from collections.abc import Iterable

# (metric name, "counter" | "gauge", help text, value)
Sample = tuple[str, str, str, int | float]


def header(metric: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {metric} {help_text}", f"# TYPE {metric} {kind}"]


def unlabelled(families: Iterable[Sample]) -> list[str]:
    """One family per metric, each with its single unlabelled sample."""
    lines: list[str] = []
    for metric, kind, help_text, value in families:
        lines += [*header(metric, kind, help_text), f"{metric} {value}"]
    return lines
