"""An agent's state: what the agent chose (status) apart from what the engine did (activity).

    status  (set by the agent or a supervisor): logged-out, ready, not-ready(reason), break
    activity (set by the engine):               idle, ringing, on-call, wrap-up

The state shown to people is the activity when there is one, else the status. Changing
the status during a call takes effect after it (FreeSWITCH's mod_callcenter does the
same), so an agent can say "break after this call". Only ``ready`` + ``idle`` is offered
calls. Every change goes through a method here; an impossible one raises
``AgentStateError`` rather than bending the state, and the engine stores the result.

    idle --offer--> ringing --answered--> on-call --ended--> wrap-up --(time)--> idle
                    ringing --missed/busy/unreachable--> idle, status not-ready(reason)
                    ringing --cancelled (caller gone, picked up elsewhere)--> idle
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from hotline.errors import HotlineError


class Status(enum.StrEnum):
    LOGGED_OUT = "logged-out"
    READY = "ready"
    NOT_READY = "not-ready"
    BREAK = "break"


class Activity(enum.StrEnum):
    IDLE = "idle"
    RINGING = "ringing"
    ON_CALL = "on-call"
    WRAP_UP = "wrap-up"


class AgentStateError(HotlineError):
    error_id = "agent-state"
    http_status = 409


@dataclass
class AgentSession:
    """One agent's live state; stored whole on every change (``as_dict``/``from_dict``)."""

    number: str
    status: Status = Status.LOGGED_OUT
    reason: str = ""  # why not ready / on break
    activity: Activity = Activity.IDLE
    call_id: str = ""  # the call ringing or connected
    extension: str = ""  # where they are logged in
    idle_since: float = 0.0  # wall-clock seconds: longest idle is served first
    wrapup_until: float = 0.0
    muted: bool = False
    signed_out: list[str] = field(default_factory=list)  # queues they stepped out of
    changed_at: float = 0.0

    @property
    def state(self) -> str:
        if self.status is Status.LOGGED_OUT and self.activity is Activity.IDLE:
            return Status.LOGGED_OUT.value
        if self.activity is not Activity.IDLE:
            return self.activity.value
        return self.status.value

    @property
    def logged_in(self) -> bool:
        return self.status is not Status.LOGGED_OUT or self.activity is not Activity.IDLE

    @property
    def offerable(self) -> bool:
        return self.status is Status.READY and self.activity is Activity.IDLE

    # --- the agent's own choices -------------------------------------------------------
    def log_in(self, extension: str, now: float) -> None:
        if self.logged_in:
            raise AgentStateError(
                f"agent {self.number} is already logged in at {self.extension}",
                agent=self.number,
                extension=self.extension,
            )
        self.extension = extension
        self.status = Status.NOT_READY
        self.reason = "logged-in"
        self.muted = False
        self.idle_since = now
        self.changed_at = now

    def log_out(self, now: float) -> None:
        """Immediately when idle; after the current call otherwise."""
        self._require_logged_in()
        self.status = Status.LOGGED_OUT
        self.reason = ""
        if self.activity is Activity.IDLE:
            self.extension = ""
        self.changed_at = now

    def set_status(self, status: Status, reason: str, now: float) -> None:
        self._require_logged_in()
        if status is Status.LOGGED_OUT:
            self.log_out(now)
            return
        if status is not self.status and status is Status.READY and self.activity is Activity.IDLE:
            self.idle_since = now  # idle from now, not from before the break
        self.status = status
        self.reason = "" if status is Status.READY else reason
        self.changed_at = now

    def set_muted(self, muted: bool, now: float) -> None:
        self._require_logged_in()
        self.muted = muted
        self.changed_at = now

    # --- the engine's ----------------------------------------------------------------------
    def offer(self, call_id: str, now: float) -> None:
        if not self.offerable:
            raise AgentStateError(
                f"agent {self.number} cannot be offered call {call_id}: {self.state}",
                agent=self.number,
                state=self.state,
                call=call_id,
            )
        self.activity = Activity.RINGING
        self.call_id = call_id
        self.changed_at = now

    def pick_up(self, call_id: str, now: float) -> None:
        """抢接: the agent takes a call ringing elsewhere; their own phone rings for it.
        Any status will do (they asked for it), but not while on another call."""
        self._require_logged_in()
        if self.activity in (Activity.RINGING, Activity.ON_CALL):
            raise AgentStateError(
                f"agent {self.number} is {self.state}", agent=self.number, state=self.state
            )
        self.activity = Activity.RINGING
        self.call_id = call_id
        self.wrapup_until = 0.0
        self.changed_at = now

    def answered(self, call_id: str, now: float) -> None:
        self._require(Activity.RINGING, call_id, "answer")
        self.activity = Activity.ON_CALL
        self.changed_at = now

    def connect(self, call_id: str, now: float) -> None:
        """Straight onto a call without ringing through the queue (a pick-up, a
        transfer to this agent by name): they must be logged in and not on a call."""
        self._require_logged_in()
        if self.activity in (Activity.RINGING, Activity.ON_CALL):
            raise AgentStateError(
                f"agent {self.number} is {self.state}", agent=self.number, state=self.state
            )
        self.activity = Activity.ON_CALL
        self.call_id = call_id
        self.changed_at = now

    def missed(self, call_id: str, reason: str, now: float) -> None:
        """No answer, busy or unreachable: the agent is set not ready (R-4.5)."""
        self._require(Activity.RINGING, call_id, "miss")
        self._back_to_idle(now)
        if self.status is not Status.LOGGED_OUT:
            self.status = Status.NOT_READY
            self.reason = reason

    def cancelled(self, call_id: str, now: float) -> None:
        """The offer was withdrawn (the caller hung up, someone picked it up)."""
        self._require(Activity.RINGING, call_id, "cancel")
        self._back_to_idle(now)

    def call_ended(self, call_id: str, wrapup_seconds: float, now: float) -> None:
        self._require(Activity.ON_CALL, call_id, "end")
        if wrapup_seconds > 0:
            self.activity = Activity.WRAP_UP
            self.wrapup_until = now + wrapup_seconds
            self.changed_at = now
        else:
            self._back_to_idle(now)

    def wrapup_done(self, now: float) -> None:
        if self.activity is not Activity.WRAP_UP:
            raise AgentStateError(f"agent {self.number} is not in wrap-up", agent=self.number)
        self._back_to_idle(now)

    def _back_to_idle(self, now: float) -> None:
        self.activity = Activity.IDLE
        self.call_id = ""
        self.wrapup_until = 0.0
        self.idle_since = now
        self.changed_at = now
        if self.status is Status.LOGGED_OUT:
            self.extension = ""

    def _require(self, activity: Activity, call_id: str, what: str) -> None:
        if self.activity is not activity or self.call_id != call_id:
            raise AgentStateError(
                f"agent {self.number} cannot {what} call {call_id}: {self.state}"
                + (f" with {self.call_id}" if self.call_id else ""),
                agent=self.number,
                state=self.state,
                call=call_id,
            )

    def _require_logged_in(self) -> None:
        if not self.logged_in:
            raise AgentStateError(f"agent {self.number} is not logged in", agent=self.number)

    # --- storage -----------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["activity"] = self.activity.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentSession:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        session = cls(**known)
        session.status = Status(session.status)
        session.activity = Activity(session.activity)
        return session
