"""The recordings API: who sees which recording, playback with ranges, malformed and
hostile call ids, paths outside the store, and supervisors' quality scores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from recordings.http import RecordingsApi, openapi_paths
from recordings.index import RecordingIndex, RecordingStatus
from tests.unit.http_fixtures import (
    AGENT,
    OTHER_AGENT,
    SUPERVISOR,
    Client,
    get_json,
    identify,
    serving,
)
from tests.unit.recordings_fixtures import DAY_ONE, add_recording, temporary_index


@dataclass
class Env:
    client: Client
    index: RecordingIndex
    store: Path
    # Calls: 1001 alone, 1001 with 1002, 1002 alone (in queue repair), and one per status.
    mine: str
    shared: str
    theirs: str
    unstored: dict[str, str]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    store = tmp_path / "store"
    async with temporary_index(tmp_path / "hotline.db") as (_engine, index):
        events = [{"offset_s": 0.0, "at": DAY_ONE.isoformat(), "kind": "answered", "data": {}}]
        mine = await add_recording(index, store, events=events, compressed=True)
        shared = await add_recording(
            index, store, agents=["1001", "1002"], started_at=DAY_ONE + timedelta(hours=1)
        )
        theirs = await add_recording(
            index,
            store,
            agents=["1002"],
            queues=["repair"],
            caller="13900139000",
            started_at=DAY_ONE + timedelta(hours=2),
        )
        unstored = {
            status: await add_recording(index, store, status=status)
            for status in (RecordingStatus.RECORDING, RecordingStatus.FAILED)
        }
        async with serving(RecordingsApi(index, store, identify).routes) as client:
            yield Env(client, index, store, mine, shared, theirs, unstored)


def calls(body: dict[str, Any]) -> set[str]:
    return {r["call"] for r in body["recordings"]}


# --- search ---------------------------------------------------------------------------------
async def test_agents_find_only_their_own_recordings(env: Env) -> None:
    own = await get_json(env.client, "/api/recordings", AGENT)
    assert calls(own) == {env.mine, env.shared, *env.unstored.values()}
    again = await get_json(env.client, "/api/recordings?agent=1001", AGENT)
    assert calls(again) == calls(own)
    other = await get_json(env.client, "/api/recordings", OTHER_AGENT)
    assert calls(other) == {env.shared, env.theirs}
    # Narrowing by queue or caller never widens an agent's view.
    assert calls(await get_json(env.client, "/api/recordings?queue=repair", AGENT)) == set()


async def test_an_agent_may_not_search_for_someone_else(env: Env) -> None:
    body = await get_json(env.client, "/api/recordings?agent=1002", AGENT, status=403)
    assert body["error_id"] == "forbidden"


async def test_supervisors_find_everything_and_filter(env: Env) -> None:
    everything = await get_json(env.client, "/api/recordings", SUPERVISOR)
    assert calls(everything) == {env.mine, env.shared, env.theirs, *env.unstored.values()}
    rows = everything["recordings"]
    assert [r["started_at"] for r in rows] == sorted((r["started_at"] for r in rows), reverse=True)
    by_agent = await get_json(env.client, "/api/recordings?agent=1002", SUPERVISOR)
    assert calls(by_agent) == {env.shared, env.theirs}
    by_queue = await get_json(env.client, "/api/recordings?queue=repair", SUPERVISOR)
    assert calls(by_queue) == {env.theirs}
    by_caller = await get_json(env.client, "/api/recordings?caller=13900139000", SUPERVISOR)
    assert calls(by_caller) == {env.theirs}
    # 09:30 UTC is 17:30 in Beijing: from then on only the two later calls.
    since = "/api/recordings?since=2026-11-22T17:30:00%2B08:00"
    assert calls(await get_json(env.client, since, SUPERVISOR)) == {env.shared, env.theirs}
    naive = "/api/recordings?since=2026-11-22T09:30:00&until=2026-11-22T10:30:00"
    assert calls(await get_json(env.client, naive, SUPERVISOR)) == {env.shared}
    limited = await get_json(env.client, "/api/recordings?limit=1", SUPERVISOR)
    assert calls(limited) == {env.theirs}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("since=2026-11-23&until=2026-11-22", "since"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
    ],
)
async def test_malformed_searches_name_the_field(env: Env, query: str, field: str) -> None:
    body = await get_json(env.client, f"/api/recordings?{query}", SUPERVISOR, status=400)
    assert body["error_id"] == "bad-request"
    assert body["details"]["field"] == field
    assert field in body["message"]


async def test_no_token_no_recordings(env: Env) -> None:
    for path in ("/api/recordings", f"/api/recordings/{env.mine}/audio"):
        assert (await get_json(env.client, path, {}, status=401))["error_id"] == "unauthorized"


# --- one recording -----------------------------------------------------------------------
async def test_detail_has_the_timeline_and_scores(env: Env) -> None:
    body = await get_json(env.client, f"/api/recordings/{env.mine}", AGENT)
    assert body["call"] == env.mine
    assert body["agents"] == ["1001"]
    assert body["status"] == "stored"
    assert body["compressed"] is True
    assert [e["kind"] for e in body["timeline"]] == ["answered"]
    assert body["scores"] == []
    # A row whose timeline is not there (yet) has none.
    unstored = env.unstored[RecordingStatus.RECORDING]
    body = await get_json(env.client, f"/api/recordings/{unstored}", AGENT)
    assert body["timeline"] == []


async def test_an_agent_may_not_open_someone_elses_recording(env: Env) -> None:
    for path in (f"/api/recordings/{env.theirs}", f"/api/recordings/{env.theirs}/audio"):
        body = await get_json(env.client, path, AGENT, status=403)
        assert body["error_id"] == "forbidden"
    # Either agent of a shared call may; supervisors may open any.
    await get_json(env.client, f"/api/recordings/{env.shared}", AGENT)
    await get_json(env.client, f"/api/recordings/{env.shared}", OTHER_AGENT)
    await get_json(env.client, f"/api/recordings/{env.theirs}", SUPERVISOR)


async def test_unknown_calls_are_404(env: Env) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    for path in (f"/api/recordings/{unknown}", f"/api/recordings/{unknown}/audio"):
        body = await get_json(env.client, path, SUPERVISOR, status=404)
        assert body["error_id"] == "not-found"


@pytest.mark.parametrize(
    "call",
    [
        "not-a-uuid",
        "..%2F..%2Fetc%2Fpasswd",
        "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "00000000-0000-4000-8000-00000000000G",
        "00000000-0000-4000-8000-0000000000000",
    ],
)
async def test_malformed_call_ids_are_400(env: Env, call: str) -> None:
    for suffix in ("", "/audio"):
        body = await get_json(env.client, f"/api/recordings/{call}{suffix}", SUPERVISOR, 400)
        assert body["error_id"] == "bad-request"
    response = await env.client.post(
        f"/api/recordings/{call}/score", json={"score": 50}, headers=SUPERVISOR
    )
    assert response.status == 400


async def test_an_upper_case_call_id_is_400(env: Env) -> None:
    body = await get_json(env.client, f"/api/recordings/{env.mine.upper()}", SUPERVISOR, 400)
    assert body["details"]["field"] == "call"


# --- audio --------------------------------------------------------------------------------
async def test_audio_whole_and_in_ranges(env: Env) -> None:
    row = await env.index.get(env.mine)
    assert row is not None
    audio = (env.store / row.path).read_bytes()
    whole = await env.client.get(f"/api/recordings/{env.mine}/audio", headers=AGENT)
    assert whole.status == 200
    assert whole.headers["Content-Type"] == "audio/wav"
    assert await whole.read() == audio

    part = await env.client.get(
        f"/api/recordings/{env.mine}/audio", headers={**AGENT, "Range": "bytes=0-99"}
    )
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 0-99/{len(audio)}"
    assert part.headers["Content-Type"] == "audio/wav"
    assert await part.read() == audio[:100]

    tail = await env.client.get(
        f"/api/recordings/{env.mine}/audio", headers={**AGENT, "Range": "bytes=2000-"}
    )
    assert tail.status == 206
    assert await tail.read() == audio[2000:]

    beyond = await env.client.get(
        f"/api/recordings/{env.mine}/audio", headers={**AGENT, "Range": f"bytes={len(audio)}-"}
    )
    assert beyond.status == 416


async def test_the_compressed_copy(env: Env) -> None:
    response = await env.client.get(
        f"/api/recordings/{env.mine}/audio?copy=compressed", headers=AGENT
    )
    assert response.status == 200
    assert response.headers["Content-Type"] == "audio/mpeg"
    assert (await response.read()).startswith(b"ID3")
    none = await get_json(
        env.client, f"/api/recordings/{env.shared}/audio?copy=compressed", AGENT, 404
    )
    assert none["details"]["copy"] == "compressed"
    bad = await get_json(env.client, f"/api/recordings/{env.mine}/audio?copy=mp3", AGENT, 400)
    assert bad["details"]["field"] == "copy"


async def test_no_audio_unless_stored(env: Env) -> None:
    await env.index.update(env.shared, status=RecordingStatus.PURGED)
    statuses = {**env.unstored, RecordingStatus.PURGED: env.shared}
    for status, call in statuses.items():
        body = await get_json(env.client, f"/api/recordings/{call}/audio", AGENT, 404)
        assert body["details"]["status"] == status
    # A stored row whose file has gone is a 404 too, not a 500.
    row = await env.index.get(env.mine)
    assert row is not None
    (env.store / row.path).unlink()
    await get_json(env.client, f"/api/recordings/{env.mine}/audio", AGENT, 404)


@pytest.mark.parametrize(
    "stored_path",
    ["../outside/secret.wav", "2026/../../outside/secret.wav", "{outside}", "link.wav"],
)
async def test_paths_outside_the_store_are_never_served(
    env: Env, tmp_path: Path, stored_path: str
) -> None:
    secret = tmp_path / "outside" / "secret.wav"
    secret.parent.mkdir()
    secret.write_bytes(b"not for callers")
    (env.store / "link.wav").symlink_to(secret)
    stored_path = stored_path.format(outside=secret)  # an absolute path too
    await env.index.update(
        env.mine, path=stored_path, compressed_path=stored_path, timeline_path=stored_path
    )
    for query in ("", "?copy=compressed"):
        response = await env.client.get(f"/api/recordings/{env.mine}/audio{query}", headers=AGENT)
        assert response.status == 404
        assert b"not for callers" not in await response.read()
    body = await get_json(env.client, f"/api/recordings/{env.mine}", AGENT)
    assert body["timeline"] == []
    assert secret.read_bytes() == b"not for callers"


# --- quality scores -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {"score": 101},
        {"score": -1},
        {"score": "x"},
        {"score": 50.5},
        {"score": True},
        {},
        {"score": 50, "comment": "x" * 1001},
        {"score": 50, "comment": 5},
    ],
)
async def test_malformed_scores_are_400(env: Env, body: dict[str, Any]) -> None:
    response = await env.client.post(
        f"/api/recordings/{env.mine}/score", json=body, headers=SUPERVISOR
    )
    assert response.status == 400
    assert (await response.json())["error_id"] == "bad-request"


async def test_only_supervisors_score(env: Env) -> None:
    path = f"/api/recordings/{env.mine}/score"
    refused = await env.client.post(path, json={"score": 90}, headers=AGENT)
    assert refused.status == 403
    assert (await refused.json())["error_id"] == "forbidden"

    first = await env.client.post(
        path, json={"score": 90, "comment": "礼貌, 清楚"}, headers=SUPERVISOR
    )
    assert first.status == 201
    score = await first.json()
    assert score["call"] == env.mine
    assert score["supervisor"] == "2001"
    assert (score["score"], score["comment"]) == (90, "礼貌, 清楚")
    second = await env.client.post(path, json={"score": 0}, headers=SUPERVISOR)
    assert second.status == 201

    # The agent sees the scores of their own call.
    detail = await get_json(env.client, f"/api/recordings/{env.mine}", AGENT)
    assert [(s["score"], s["comment"]) for s in detail["scores"]] == [(90, "礼貌, 清楚"), (0, "")]
    unknown = "00000000-0000-4000-8000-000000000000"
    missing = await env.client.post(
        f"/api/recordings/{unknown}/score", json={"score": 1}, headers=SUPERVISOR
    )
    assert missing.status == 404


def test_openapi_fragment_describes_every_route() -> None:
    paths = openapi_paths()
    assert set(paths) == {
        "/api/recordings",
        "/api/recordings/{call}",
        "/api/recordings/{call}/audio",
        "/api/recordings/{call}/score",
    }
    for item in paths.values():
        for operation in item.values():
            assert operation["security"] == [{"token": []}]
            assert operation["summary"]
            assert "404" in operation["responses"]
    assert "206" in paths["/api/recordings/{call}/audio"]["get"]["responses"]
    assert "201" in paths["/api/recordings/{call}/score"]["post"]["responses"]
