"""The ACD's live state as JSON: agents, the calls waiting, the supervisors' snapshot.
Shared by the agents' API and the live-events WebSocket."""

from __future__ import annotations

from typing import Any

from acd.engine import Acd


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
    waiting = waiting_json(acd, None)
    return {
        "queues": [
            {
                "queue": name,
                "waiting": sum(1 for c in waiting if c["queue"] == name),
                "longest_wait": max(
                    (c["waited"] for c in waiting if c["queue"] == name), default=0
                ),
            }
            for name in setup.queues
        ],
        "calls": waiting,
        "agents": [agent_json(acd, n) for n in setup.agents],
    }
