"""Every ``call_events`` row, as it is committed, to the listeners of its database.

The live counters behind ``/metrics`` (``reports.live``) follow the call log as it is
written instead of reading it back at each scrape. They listen here, at the ORM session,
rather than in one writer: whoever adds a ``CallEvent`` (the call store's writes, a retry
of one after a locked database), the row is told once, after its transaction commits, and
never when it rolls back.

The rows are copied at flush (when their ids are known), so a listener never touches an
ORM object after its session is gone. Listeners run on the thread that committed (the
controller's event loop) and must be quick; one that raises is logged, never the writer's
problem.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, UOWTransaction

from hotline.calls.models import CallEvent
from hotline.db import aware

log = logging.getLogger(__name__)

_PENDING = "reports.tap.pending"  # the session's flushed, not yet committed, rows


@dataclass(frozen=True)
class WrittenEvent:
    """One committed ``call_events`` row."""

    id: int
    call_id: str
    at: datetime
    kind: str
    data: Mapping[str, Any]


Listener = Callable[[WrittenEvent], None]
# Keyed weakly by the database's engine: a disposed controller's listeners go with it.
_listeners: weakref.WeakKeyDictionary[Engine, list[Listener]] = weakref.WeakKeyDictionary()


def watch_call_events(engine: AsyncEngine, listener: Listener) -> None:
    """Tell ``listener`` every call event committed through ``engine`` from now on.
    The listener must not hold ``engine`` (the key is weak)."""
    if not event.contains(Session, "after_flush", _collect):
        event.listen(Session, "after_flush", _collect)
        event.listen(Session, "after_commit", _publish)
        event.listen(Session, "after_rollback", _forget)
    _listeners.setdefault(engine.sync_engine, []).append(listener)


def _watched(session: Session) -> list[Listener] | None:
    bind = session.bind
    return _listeners.get(bind) if isinstance(bind, Engine) else None


def _collect(session: Session, _flush: UOWTransaction) -> None:
    if not _watched(session):
        return
    pending: list[WrittenEvent] = session.info.setdefault(_PENDING, [])
    for row in session.new:
        if isinstance(row, CallEvent):
            pending.append(
                WrittenEvent(row.id, row.call_id, aware(row.at), str(row.kind), row.data or {})
            )


def _publish(session: Session) -> None:
    written: list[WrittenEvent] = session.info.pop(_PENDING, [])
    listeners = _watched(session) or []
    for row in sorted(written, key=lambda w: w.id):
        for listener in listeners:
            try:
                listener(row)
            except Exception:  # the write is done; a counter's fault must not undo it
                log.exception("a call-event listener failed on event %s", row.id)


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
