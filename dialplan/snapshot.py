"""The fallback's reading of the snapshot the controller leaves (``acd.fallback``): whose
phones a fallback queue rings. Read again whenever the file changes; a missing or broken
file is an empty snapshot (the queue then rings nobody and takes a message)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueuePhones:
    dial: tuple[str, ...]  # dial strings, rung together
    ring_seconds: int
    max_wait: int
    music: str
    whom: str  # "ready", "logged-in" or "nobody": which agents these are


class Snapshot:
    def __init__(self, path: Path, ring_seconds: int, max_wait: int) -> None:
        self.path = path
        self._defaults = (ring_seconds, max_wait)
        self._data: dict[str, Any] = {}
        self._stamp: tuple[int, int] | None = None

    @property
    def written_at(self) -> float | None:
        self._refresh()
        at = self._data.get("written_at")
        return float(at) if isinstance(at, int | float) else None

    def phones(self, queue: str) -> QueuePhones:
        """The phones to ring for ``queue``: those who were ready, else every agent logged
        in with its skills."""
        self._refresh()
        entry = self._data.get("queues", {}).get(queue, {})
        ring, wait = self._defaults
        ring = int(entry.get("ring_seconds", ring))
        wait = int(entry.get("max_wait", wait))
        music = str(entry.get("music", "default"))
        for whom in ("ready", "logged_in"):
            dial = tuple(str(d) for d in entry.get(whom, []))
            if dial:
                return QueuePhones(dial, ring, wait, music, whom.replace("_", "-"))
        return QueuePhones((), ring, wait, music, "nobody")

    def agent_of(self, dialled: str) -> str:
        """The agent whose phone was dialled: ``dialled`` is Asterisk's DIALEDPEERNUMBER,
        the dial string without its technology (``7101@carrier`` of ``PJSIP/7101@carrier``)."""
        self._refresh()
        for dial, agent in self._data.get("phones", {}).items():
            if str(dial).split("/", 1)[-1] == dialled:
                return str(agent)
        return ""

    def _refresh(self) -> None:
        try:
            info = self.path.stat()
        except OSError:
            self._data, self._stamp = {}, None
            return
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp == self._stamp:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("the controller's snapshot %s cannot be read: %s", self.path, exc)
            data = {}
        self._data = data if isinstance(data, dict) else {}
        self._stamp = stamp
