"""Fixtures the unit tests share."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.calls.store import CallStore
from hotline.db import create_schema, make_engine


@pytest.fixture
async def engine() -> AsyncIterator[AsyncEngine]:
    """An in-memory SQLite database with every imported table."""
    engine = make_engine("sqlite+aiosqlite://")
    await create_schema(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def store(engine: AsyncEngine) -> CallStore:
    """The call store on ``engine``."""
    return CallStore(engine)


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration for commands, its state in ``tmp_path``; no HOTLINE_ variables."""
    for name in os.environ:
        if name.startswith("HOTLINE_"):
            monkeypatch.delenv(name)
    path = tmp_path / "hotline.yaml"
    path.write_text(f"state_dir: {tmp_path}\n")
    return path
