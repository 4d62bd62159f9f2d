"""The ACD file in service and its reloads: a rejected file changes nothing."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from acd.loader import AcdError, load_acd
from acd.model import AcdSetup

log = logging.getLogger(__name__)


class AcdLibrary:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._current: AcdSetup | None = None
        self._stamp: tuple[float, int] | None = None

    @property
    def current(self) -> AcdSetup:
        if self._current is None:
            raise RuntimeError("the ACD file has not been loaded")
        return self._current

    def load(self) -> AcdSetup:
        """Read and check the file; only a good one replaces the setup in service."""
        stamp = _stamp(self.path)
        setup = load_acd(self.path)
        self._current, self._stamp = setup, stamp
        return setup

    async def watch(self, interval: float = 1.0) -> None:
        """Reload when the file changes (a task owned by the composition root)."""
        while True:
            await asyncio.sleep(interval)
            stamp = _stamp(self.path)
            if stamp is None or stamp == self._stamp:
                continue
            try:
                setup = self.load()
                log.info("ACD file changed: version %s in service", setup.version)
            except AcdError as exc:
                self._stamp = stamp  # said once, not every second
                log.error("ACD file changed but was rejected; the running one stays: %s", exc)


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime, st.st_size
