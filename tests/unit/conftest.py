"""Fixtures the unit tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hotline.calls.store import CallStore
from hotline.db import create_schema, make_engine


@pytest.fixture
async def store() -> AsyncIterator[CallStore]:
    """The call store on an in-memory SQLite database with every imported table."""
    engine = make_engine("sqlite+aiosqlite://")
    await create_schema(engine)
    yield CallStore(engine)
    await engine.dispose()
