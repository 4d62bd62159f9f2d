"""A thin typed ARI client on aiohttp: REST (rest.py), events (events.py), errors, models."""

from hotline.ari.errors import (
    ApplicationReplaced,
    AriConflict,
    AriError,
    AriNotFound,
    AriUnavailable,
)
from hotline.ari.events import EventStream
from hotline.ari.models import Channel, Event, Playback
from hotline.ari.rest import AriRest

__all__ = [
    "ApplicationReplaced",
    "AriConflict",
    "AriError",
    "AriNotFound",
    "AriRest",
    "AriUnavailable",
    "Channel",
    "Event",
    "EventStream",
    "Playback",
]
