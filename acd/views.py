"""The ACD's live state as JSON: agents, the calls waiting, the supervisors' snapshot.
Shared by the agents' API and the live-events WebSocket."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from acd.engine import Acd
from hotline.api import Identity


def agent_json(acd: Acd, number: str) -> dict[str, Any]:
    agent = acd.agent(number)
    session = acd.session(number)
    return {
        "agent": number,
        "name": agent.name,
        "role": agent.role.value,
        "state": session.state,
        "reason": session.reason,
        "extension": session.extension,
        "call": session.call_id,
        "muted": session.muted,
        "skills": dict(agent.skills),
        "queues": acd.queues_of(agent, session, acd.setup),
        "wrapup_until": session.wrapup_until or None,
    }


def waiting_json(acd: Acd, queues: set[str] | None) -> list[dict[str, Any]]:
    """The calls waiting (in ``queues`` only, unless None), by queue and position."""
    now = acd.clock()
    calls = []
    for waiter in acd.waiting.values():
        call = waiter.call
        if queues is not None and call.queue not in queues:
            continue
        calls.append(
            {
                "call": call.call_id,
                "caller": waiter.caller,
                "queue": call.queue,
                "priority": call.priority,
                "vip": call.vip,
                "region": call.region,
                "waited": round(now - call.joined_at, 1),
                "position": acd.position(call.call_id),
                "ringing": waiter.ringing,
            }
        )
    return sorted(calls, key=lambda c: (c["queue"], c["position"]))


def snapshot(acd: Acd) -> dict[str, Any]:
    """动态监控: every queue's waiting count and longest wait, the calls, the agents."""
    setup = acd.setup
    return {
        "queues": queue_counts(acd, setup.queues),
        "calls": waiting_json(acd, None),
        "agents": [agent_json(acd, n) for n in setup.agents],
    }


def queue_counts(acd: Acd, queues: Iterable[str]) -> list[dict[str, Any]]:
    """How many wait in each of ``queues`` and the longest wait: no caller in it."""
    wanted = list(queues)
    waiting = waiting_json(acd, set(wanted))
    return [
        {
            "queue": name,
            "waiting": sum(1 for c in waiting if c["queue"] == name),
            "longest_wait": max((c["waited"] for c in waiting if c["queue"] == name), default=0),
        }
        for name in wanted
    ]


def snapshot_for(acd: Acd, who: Identity) -> dict[str, Any]:
    """The live snapshot a WebSocket sends first: a supervisor's is whole; an agent sees
    their own state and their queues' counts (no other caller's number, no colleague)."""
    if who.supervisor:
        return snapshot(acd)
    return {
        "queues": queue_counts(acd, _queues_of(acd, who.agent)),
        "calls": [],
        "agents": [agent_json(acd, who.agent)],
    }


def event_for(acd: Acd, who: Identity, event: dict[str, Any]) -> dict[str, Any] | None:
    """What of a live event ``who`` may see: a supervisor everything; an agent the changes
    to their own state, and for a call joining, moving or leaving a queue their queues'
    counts now. None: nothing for them."""
    if who.supervisor:
        return event
    if event.get("type") == "agent":
        return event if event.get("agent") == who.agent else None
    if str(event.get("type", "")).startswith("call-"):
        return {"type": "queues", "queues": queue_counts(acd, _queues_of(acd, who.agent))}
    return None


def _queues_of(acd: Acd, number: str) -> list[str]:
    agent = acd.setup.agents.get(number)
    if agent is None:
        return []
    return acd.queues_of(agent, acd.session(number), acd.setup)
