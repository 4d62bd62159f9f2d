"""What the ACD leaves for the FastAGI fallback (``dialplan.requests``): who was ready for
which queue, and how their phones are dialled, in one JSON file the controller rewrites
whenever it changes. The fallback reads it without the controller and without the
database, so an outage that is the database's still rings the right phones.

Per queue: the phones of the agents who were ``ready`` with the queue's skills (whatever
they were doing: one on a call or in wrap-up is free again soon), and of everyone logged
in with the skills (rung when nobody was ready); with the queue's ring time, longest wait
and music on hold. ``phones`` maps each dial string back to its agent, so a fallback call
an agent answered is theirs in the reports.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from acd.agents import AgentSession, Status
from acd.model import AcdSetup
from acd.sessions import AgentSessions

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "snapshot.json"
FORMAT = 1
WRITE_EVERY = 1.0  # seconds between looks; the file is only written when it changed


def snapshot(
    setup: AcdSetup, sessions: Mapping[str, AgentSession], agent_dial: str
) -> dict[str, Any]:
    """The fallback's view of the ACD now (no time in it: equal states are equal)."""
    phones: dict[str, str] = {}
    queues: dict[str, Any] = {}
    for name, queue in sorted(setup.queues.items()):
        ready: list[str] = []
        logged_in: list[str] = []
        for number in sorted(sessions):
            session, agent = sessions[number], setup.agents.get(number)
            if agent is None or not session.logged_in or not session.extension:
                continue
            if name not in AgentSessions.queues_of(agent, session, setup):
                continue
            dial = agent_dial.format(target=session.extension)
            phones[dial] = number
            logged_in.append(dial)
            if session.status is Status.READY:
                ready.append(dial)
        queues[name] = {
            "ring_seconds": queue.ring_seconds,
            "max_wait": queue.max_wait,
            "music": queue.music or "default",
            "ready": ready,
            "logged_in": logged_in,
        }
    return {"format": FORMAT, "acd_version": setup.version, "queues": queues, "phones": phones}


def write_atomically(path: Path, data: Mapping[str, Any]) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    part.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    os.replace(part, path)


class SnapshotWriter:
    """The controller's task (``run``) that keeps ``fallback_dir/snapshot.json`` current."""

    def __init__(
        self,
        folder: Path,
        setup: Callable[[], AcdSetup],
        sessions: AgentSessions,
        agent_dial: str,
        every: float = WRITE_EVERY,
    ) -> None:
        self.path = folder / SNAPSHOT_FILE
        self._setup = setup
        self._sessions = sessions
        self._agent_dial = agent_dial
        self._every = every
        self._written: dict[str, Any] | None = None

    def write_if_changed(self) -> bool:
        now = snapshot(self._setup(), self._sessions.agents, self._agent_dial)
        if now == self._written:
            return False
        write_atomically(self.path, {**now, "written_at": time.time()})
        self._written = now
        return True

    async def run(self) -> None:
        while True:
            try:
                self.write_if_changed()
            except OSError as exc:  # a full disk must not end the controller
                log.warning("could not write the fallback's snapshot %s: %s", self.path, exc)
            await asyncio.sleep(self._every)
