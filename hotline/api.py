"""What every feature's HTTP routes share: who is asking, the refusals, JSON in and out.

A feature's routes take an ``Identify`` (given by the composition root; the ACD's tokens
are what stands behind it today) and never look up tokens themselves. Refusals are
``HotlineError``s, turned into ``{error_id, message, details}`` in one place
(``hotline.http``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from hotline.db import aware
from hotline.errors import HotlineError


class BadRequest(HotlineError):
    error_id = "bad-request"
    http_status = 400


class Unauthorized(HotlineError):
    error_id = "unauthorized"
    http_status = 401


class Forbidden(HotlineError):
    error_id = "forbidden"
    http_status = 403


class NotFound(HotlineError):
    error_id = "not-found"
    http_status = 404


class Role(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"


@dataclass(frozen=True)
class Identity:
    agent: str
    role: Role
    expires_at: datetime | None = None  # when the token it came with expires

    @property
    def supervisor(self) -> bool:
        return self.role is Role.SUPERVISOR


# Who sent a request (401 when nobody we know).
Identify = Callable[[web.Request], Awaitable[Identity]]


async def supervisor_of(identify: Identify, request: web.Request) -> Identity:
    """The sender, who must be a supervisor (403 otherwise)."""
    who = await identify(request)
    if not who.supervisor:
        raise Forbidden(
            f"agent {who.agent} is not a supervisor", agent=who.agent, role=who.role.value
        )
    return who


async def read_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object ({} when it has no body)."""
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the body is not JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def required_text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name}: required text", field=name)
    return value


def number_in(body: Mapping[str, Any], name: str, default: float) -> float:
    """A number from the body (``default`` when absent); 400 for anything else."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{name}: a number, got {value!r}", field=name)
    return float(value)


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with Chinese text as it is (not as \\u escapes)."""
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


def query_instant(query: Mapping[str, str], name: str) -> datetime | None:
    """An ISO date-time from the query, in UTC (a naive one is taken as UTC already),
    because the database keeps UTC and SQLite compares the text without offsets."""
    text = query.get(name, "")
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"{name}: an ISO date-time like 2026-11-22T08:00:00+08:00 "
            f"(send + as %2B in a query), got {text!r}",
            field=name,
        ) from None
    return aware(at).astimezone(UTC)
