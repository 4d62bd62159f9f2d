"""A call waiting in a queue as the ACD and the call's own task share it, the synthetic
events the ACD sends that task, and the ACD's refusals about calls and queues."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from acd import routing
from hotline.ari.models import Event
from hotline.errors import HotlineError

OFFER_EVENT = "HotlineOffer"  # synthetic, delivered to the waiting call's channel
PICKUP_EVENT = "HotlinePickup"  # another agent takes the call ringing elsewhere
ACTION_EVENT = "HotlineAction"  # an agent or supervisor acts on a conversation
ACTION_TIMEOUT = 30.0


class NoSuchCall(HotlineError):
    error_id = "no-such-call"
    http_status = 404


class UnknownQueue(HotlineError):
    error_id = "unknown-queue"
    http_status = 404


@dataclass
class Waiter:
    """A call waiting in a queue, as the call's task holds it."""

    call: routing.WaitingCall
    caller: str
    deliver: Callable[[Event], None]  # into the call's own event queue
    wait_id: int = 0
    ringing: str = ""  # the agent whose phone rings for it now
    offer_id: int = 0
    picked_by: str = ""  # an agent who asked to pick it up while it rang elsewhere
    history: list[str] = field(default_factory=list)  # agents offered so far

    @property
    def call_id(self) -> str:
        return self.call.call_id
