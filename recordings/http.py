"""Finding, playing and scoring whole-call recordings over the agents' API (R-5.2).

Agents see the recordings of calls they took part in; supervisors see every one and score
them (录音质检). Every ``{call}`` is checked in the same order: a canonical UUID (else 400),
a known row (else 404), the asker's right to it (else 403). Audio is served only for
``stored`` rows (404 with the status in ``details`` otherwise: the audio is not in the
store, whether it is still being recorded, waits on the PBX or was purged) and only from
inside the store directory, whatever path the row holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from hotline.api import (
    BadRequest,
    Forbidden,
    Identify,
    Identity,
    NotFound,
    json_response,
    query_instant,
    read_body,
)
from recordings.index import Recording, RecordingIndex, RecordingStatus, Search
from recordings.retention import file_in_store, is_call_id

log = logging.getLogger(__name__)


AUDIO_TYPES = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg"}
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
MAX_COMMENT = 1000
COPIES = ("original", "compressed")


class RecordingsApi:
    def __init__(self, index: RecordingIndex, store_dir: Path, identify: Identify) -> None:
        self.index = index
        self.store_dir = store_dir
        self.identify = identify

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/recordings", self.search)
        r.add_get("/api/recordings/{call}", self.detail)
        r.add_get("/api/recordings/{call}/audio", self.audio)
        r.add_post("/api/recordings/{call}/score", self.score)

    async def search(self, request: web.Request) -> web.Response:
        who = await self.identify(request)
        query = request.query
        agent = query.get("agent", "")
        if not who.supervisor:
            if agent and agent != who.agent:
                raise Forbidden(
                    f"agent {who.agent} may only search their own recordings",
                    agent=who.agent,
                    asked_for=agent,
                )
            agent = who.agent  # an agent's search is always narrowed to their own calls
        since, until = query_instant(query, "since"), query_instant(query, "until")
        if since is not None and until is not None and since >= until:
            raise BadRequest("since: must be before until", field="since")
        rows = await self.index.search(
            Search(
                caller=query.get("caller", ""),
                agent=agent,
                queue=query.get("queue", ""),
                since=since,
                until=until,
                limit=_limit(query),
            )
        )
        return json_response({"recordings": [row.as_json() for row in rows]})

    async def detail(self, request: web.Request) -> web.Response:
        who = await self.identify(request)
        row = await self._recording(request, who)
        timeline = await asyncio.to_thread(self._timeline, row)
        scores = await self.index.scores(row.call_id)
        return json_response(
            {**row.as_json(), "timeline": timeline, "scores": [s.as_json() for s in scores]}
        )

    async def audio(self, request: web.Request) -> web.FileResponse:
        """The audio, or its compressed copy (``?copy=compressed``); ranges are honoured
        (FileResponse answers ``Range`` with 206) so players can seek."""
        who = await self.identify(request)
        row = await self._recording(request, who)
        copy = request.query.get("copy", "original")
        if copy not in COPIES:
            raise BadRequest(f"copy: one of {', '.join(COPIES)}, got {copy!r}", field="copy")
        if row.status != RecordingStatus.STORED:
            raise NotFound(
                f"recording {row.call_id} is {row.status}: its audio is not in the store",
                call=row.call_id,
                status=row.status,
            )
        relative = row.compressed_path if copy == "compressed" else row.path
        if not relative:
            raise NotFound(
                f"recording {row.call_id} has no {copy} copy", call=row.call_id, copy=copy
            )
        path = file_in_store(self.store_dir, relative)
        if path is None:
            # Only a tampered or corrupt row gets here; say so in the log, not to the asker.
            log.warning(
                "recording %s: path %r is outside the store, refused", row.call_id, relative
            )
            raise NotFound(f"recording {row.call_id}: the file is missing", call=row.call_id)
        if not await asyncio.to_thread(path.is_file):
            log.warning("recording %s: stored but %s is missing", row.call_id, path)
            raise NotFound(f"recording {row.call_id}: the file is missing", call=row.call_id)
        suffix = Path(relative).suffix.lower()
        return web.FileResponse(
            path,
            headers={
                "Content-Type": AUDIO_TYPES.get(suffix, "application/octet-stream"),
                "Content-Disposition": f'inline; filename="{row.call_id}{suffix}"',
                # Call audio is personal data: no shared caches.
                "Cache-Control": "private, no-store",
            },
        )

    async def score(self, request: web.Request) -> web.Response:
        """录音质检: a supervisor's score 0-100 and an optional comment."""
        who = await self.identify(request)
        if not who.supervisor:
            raise Forbidden(
                f"agent {who.agent} is not a supervisor", agent=who.agent, role=who.role.value
            )
        row = await self._recording(request, who)
        body = await read_body(request)
        score = body.get("score")
        # bool is an int in Python, but true is not a score.
        if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
            raise BadRequest(f"score: a whole number 0-100, got {score!r}", field="score")
        comment = body.get("comment", "")
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
            raise BadRequest(f"comment: text of at most {MAX_COMMENT} characters", field="comment")
        added = await self.index.add_score(row.call_id, who.agent, score, comment)
        return json_response(added.as_json(), status=201)

    async def _recording(self, request: web.Request, who: Identity) -> Recording:
        call_id = request.match_info["call"]
        if not is_call_id(call_id):
            raise BadRequest("call: a call id is a lower-case UUID", field="call")
        row = await self.index.get(call_id)
        if row is None:
            raise NotFound(f"no recording of call {call_id}", call=call_id)
        if not who.supervisor and who.agent not in row.agent_list():
            raise Forbidden(
                f"agent {who.agent} did not take part in call {call_id}",
                agent=who.agent,
                call=call_id,
            )
        return row

    def _timeline(self, row: Recording) -> list[Any]:
        """The timeline's events; [] when there is none (still recording, purged, lost)."""
        path = file_in_store(self.store_dir, row.timeline_path)
        if path is None:
            if row.timeline_path:
                log.warning(
                    "recording %s: timeline %r is outside the store, refused",
                    row.call_id,
                    row.timeline_path,
                )
            return []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.warning("recording %s: unreadable timeline %s: %s", row.call_id, path, exc)
            return []
        events = data.get("events") if isinstance(data, dict) else None
        return events if isinstance(events, list) else []


def _limit(query: Mapping[str, str]) -> int:
    text = query.get("limit", "")
    if not text:
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit: a whole number 1-{MAX_LIMIT}, got {text!r}", field="limit")
    return limit


def openapi_paths() -> dict[str, Any]:
    """These routes as OpenAPI 3.1 ``paths``, to merge into ``acd.http.openapi_document``
    (whose components hold the ``token`` scheme and the ``Error`` response)."""
    bearer: list[dict[str, list[str]]] = [{"token": []}]
    error = {"$ref": "#/components/responses/Error"}
    call = {
        "name": "call",
        "in": "path",
        "required": True,
        "description": "the call id, a lower-case UUID",
        "schema": {"type": "string", "format": "uuid"},
    }

    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "description": description, "schema": schema}

    def op(summary: str, ok: dict[str, Any], **more: Any) -> dict[str, Any]:
        return {
            "summary": summary,
            "security": bearer,
            "responses": {
                **ok,
                "400": error,
                "401": error,
                "403": error,
                "404": error,
            },
            **more,
        }

    instant = {"type": "string", "format": "date-time"}
    audio_types = {
        t: {"schema": {"type": "string", "format": "binary"}} for t in AUDIO_TYPES.values()
    }
    return {
        "/api/recordings": {
            "get": op(
                "find recordings, newest first (agents: only calls they took part in)",
                {"200": {"description": "{recordings: [...]}"}},
                parameters=[
                    query("caller", "the caller's number", {"type": "string"}),
                    query(
                        "agent", "an agent's number (agents: only their own)", {"type": "string"}
                    ),
                    query("queue", "a queue's name", {"type": "string"}),
                    query("since", "started at or after (ISO; naive is UTC)", instant),
                    query("until", "started before (ISO; naive is UTC)", instant),
                    query(
                        "limit",
                        f"at most this many (default {DEFAULT_LIMIT})",
                        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                    ),
                ],
            )
        },
        "/api/recordings/{call}": {
            "get": op(
                "a recording with its timeline events and quality scores",
                {"200": {"description": "the recording, timeline and scores"}},
                parameters=[call],
            )
        },
        "/api/recordings/{call}/audio": {
            "get": op(
                "the audio (Range requests give 206); 404 with details.status unless stored",
                {
                    "200": {"description": "the whole file", "content": audio_types},
                    "206": {"description": "the requested range", "content": audio_types},
                    "416": {"description": "the range is not satisfiable"},
                },
                parameters=[
                    call,
                    query("copy", "original (default) or compressed", {"enum": list(COPIES)}),
                ],
            )
        },
        "/api/recordings/{call}/score": {
            "post": op(
                "score a recording for quality (supervisors only)",
                {"201": {"description": "the score"}},
                parameters=[call],
                requestBody={
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "score": {"type": "integer", "minimum": 0, "maximum": 100},
                                    "comment": {"type": "string", "maxLength": MAX_COMMENT},
                                },
                                "required": ["score"],
                            }
                        }
                    },
                },
            )
        },
    }
