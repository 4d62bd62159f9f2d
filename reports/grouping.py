"""Queue visits grouped into report rows (the KPIs' definitions are in ``reports.kpis``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DIMENSIONS = ("number", "queue", "agent", "region", "hour", "day", "month", "all")
RATED = ("1", "2", "3")
SATISFIED = "1"


@dataclass(frozen=True)
class Visit:
    """One stay of a call in the ACD, as the KPIs see it."""

    call_id: str
    dialled: str
    queue: str
    region: str
    start: datetime
    outcome: str  # answered, abandoned, callback, message, other
    wait: float | None  # seconds waited; None when the wait did not end (other)
    agent: str = ""  # the answering agent
    talk: float = 0.0
    hold: float = 0.0
    wrap: float = 0.0
    transferred: bool = False
    surveys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kpis:
    """One row of a report; full-precision floats (round with ``as_dict``)."""

    threshold: float
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    callbacks: int = 0
    messages: int = 0
    other: int = 0
    answered_within: int = 0
    abandon_rate: float | None = None
    service_level: float | None = None
    asa: float | None = None
    talk: float = 0.0
    hold: float = 0.0
    wrap: float = 0.0
    aht: float | None = None
    transfers: int = 0
    transfer_rate: float | None = None
    surveys: Mapping[str, int] = field(default_factory=dict)
    rated: int = 0
    satisfaction: float | None = None
    calls: int | None = None
    callbacks_requested: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly: rates to 4 places, seconds to 0.1 s."""
        return {
            "threshold": self.threshold,
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "callbacks": self.callbacks,
            "messages": self.messages,
            "other": self.other,
            "answered_within": self.answered_within,
            "abandon_rate": round_(self.abandon_rate, 4),
            "service_level": round_(self.service_level, 4),
            "asa": round_(self.asa, 1),
            "talk": round(self.talk, 1),
            "hold": round(self.hold, 1),
            "wrap": round(self.wrap, 1),
            "aht": round_(self.aht, 1),
            "transfers": self.transfers,
            "transfer_rate": round_(self.transfer_rate, 4),
            "surveys": dict(sorted(self.surveys.items())),
            "rated": self.rated,
            "satisfaction": round_(self.satisfaction, 4),
            "calls": self.calls,
            "callbacks_requested": self.callbacks_requested,
        }


@dataclass
class Tally:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    callbacks: int = 0
    messages: int = 0
    other: int = 0
    answered_within: int = 0
    wait: float = 0.0
    talk: float = 0.0
    hold: float = 0.0
    wrap: float = 0.0
    transfers: int = 0
    surveys: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    callbacks_requested: int = 0

    def add(self, visit: Visit, threshold: float, sign: int = 1) -> None:
        """Count the visit in (``sign`` -1: take it back out, as live counters do when a
        call's visits change with its next event)."""
        self.offered += sign
        if visit.outcome == "answered":
            wait = visit.wait or 0.0
            self.answered += sign
            self.answered_within += sign * (wait <= threshold)
            self.wait += sign * wait
            self.talk += sign * visit.talk
            self.hold += sign * visit.hold
            self.wrap += sign * visit.wrap
            self.transfers += sign * visit.transferred
        elif visit.outcome == "abandoned":
            self.abandoned += sign
        elif visit.outcome == "callback":
            self.callbacks += sign
        elif visit.outcome == "message":
            self.messages += sign
        else:
            self.other += sign
        for result in visit.surveys:
            left = self.surveys.get(result, 0) + sign
            if left:
                self.surveys[result] = left
            else:
                self.surveys.pop(result, None)

    def freeze(self, threshold: float, call_level: bool) -> Kpis:
        reachable = self.offered - self.callbacks
        rated = sum(self.surveys.get(result, 0) for result in RATED)
        return Kpis(
            threshold=threshold,
            offered=self.offered,
            answered=self.answered,
            abandoned=self.abandoned,
            callbacks=self.callbacks,
            messages=self.messages,
            other=self.other,
            answered_within=self.answered_within,
            abandon_rate=ratio(self.abandoned, reachable),
            service_level=ratio(self.answered_within, reachable),
            asa=ratio(self.wait, self.answered),
            talk=self.talk,
            hold=self.hold,
            wrap=self.wrap,
            aht=ratio(self.talk + self.hold + self.wrap, self.answered),
            transfers=self.transfers,
            transfer_rate=ratio(self.transfers, self.answered),
            surveys=dict(self.surveys),
            rated=rated,
            satisfaction=ratio(self.surveys.get(SATISFIED, 0), rated),
            calls=self.calls if call_level else None,
            callbacks_requested=self.callbacks_requested if call_level else None,
        )


def key_function(by: str, zone: ZoneInfo) -> Callable[[Visit], str]:
    keys: dict[str, Callable[[Visit], str]] = {
        "number": lambda v: v.dialled,
        "queue": lambda v: v.queue,
        "agent": lambda v: v.agent,
        "region": lambda v: v.region,
        "hour": lambda v: v.start.astimezone(zone).strftime("%Y-%m-%d %H"),
        "day": lambda v: v.start.astimezone(zone).strftime("%Y-%m-%d"),
        "month": lambda v: v.start.astimezone(zone).strftime("%Y-%m"),
        "all": lambda v: "all",
    }
    if by not in keys:
        raise ValueError(f"unknown report grouping {by!r}: choose one of {', '.join(DIMENSIONS)}")
    return keys[by]


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r} (an IANA name like 'Asia/Shanghai')") from exc


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def round_(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)
