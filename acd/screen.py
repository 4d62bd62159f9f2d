"""来电弹屏 (R-4.9): what an agent's desktop shows when a call reaches them."""

from __future__ import annotations

from typing import Any

from acd.model import AcdSetup
from acd.waiter import NoSuchCall
from hotline.calls.models import CallRecord
from hotline.calls.store import CallStore

PAST_CALLS = 10


async def screen_pop(calls: CallStore, setup: AcdSetup, call_id: str) -> dict[str, Any]:
    """The caller, the caller's region, and their past calls with how each ended."""
    record = await calls.get(call_id)
    if record is None:
        raise NoSuchCall(f"no call {call_id}", call=call_id)
    region = setup.regions.of(record.caller_number)
    past = [r for r in await calls.recent_from(record.caller_number, PAST_CALLS + 1)]
    return {
        "caller": record.caller_number,
        "dialled": record.dialled_number,
        "region": region,
        "region_name": setup.regions.names.get(region, ""),
        "vip": setup.is_vip(record.caller_number),
        "queue": _queue_of(record),
        "keys": record.keys,
        "past_calls": [
            {
                "call": r.id,
                "started_at": r.started_at.isoformat(),
                "duration_s": r.duration_s,
                "disposition": r.disposition,
                "queue": _queue_of(r),
                "agent": r.agent or "",
            }
            for r in past
            if r.id != call_id
        ][:PAST_CALLS],
    }


def _queue_of(record: CallRecord) -> str:
    """The queue the call was last in (the menu's queue node's, before it joined one)."""
    return record.queue or str((record.variables or {}).get("queue", ""))
