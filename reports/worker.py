"""Reports in a process of their own, one at a time, so a month of history never stalls
a call.

A month is a million events or more: reading them and walking the KPIs is seconds of
Python. On the controller's event loop that would hold up every call for as long; on a
thread it would still take the interpreter's lock from the loop in turns. So reports run
in one worker process (started by spawn: the controller has threads, which fork does not
copy), at a lower CPU priority than the controller and the PBX. At most MAX_PENDING
reports run or wait; one more is refused with 503 ``reports-busy``.

The worker opens the database by its URL (a file: an in-memory database cannot be
shared). ``run`` is the worker's owner, a supervised task: when the controller stops, it
stops the process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime

from hotline.errors import HotlineError
from reports.grouping import Kpis
from reports.store import report_rows

MAX_PENDING = 2
NICENESS = 10


class ReportsBusy(HotlineError):
    error_id = "reports-busy"
    http_status = 503


def _lower_priority() -> None:
    os.nice(NICENESS)


class ReportWorker:
    def __init__(self, db_url: str, threshold: float, tz: str) -> None:
        self.db_url = db_url
        self.threshold = threshold
        self.tz = tz
        self._pool: ProcessPoolExecutor | None = None
        self._pending = 0

    async def rows(self, since: datetime, until: datetime, by: str) -> dict[str, Kpis]:
        """The report's rows, computed in the worker process."""
        if self._pending >= MAX_PENDING:
            raise ReportsBusy(
                f"{MAX_PENDING} reports are being made; ask again when one is done",
                retry_after_s=5,
            )
        self._pending += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._started(), report_rows, self.db_url, since, until, by, self.threshold, self.tz
            )
        finally:
            self._pending -= 1

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_lower_priority,
            )
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def run(self) -> None:
        """Own the worker process while the controller runs; stop it when cancelled."""
        try:
            await asyncio.Event().wait()
        finally:
            self.close()
