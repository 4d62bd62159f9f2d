"""Fixtures: the real stack (PBX + tester + controller) for the whole session."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.centre import EXTENSIONS, PASSWORD, Centre
from tests.harness.cli import hotline
from tests.harness.stack import Stack
from tests.harness.tester import AriWatcher, Tester


@pytest.fixture(scope="session")
async def stack() -> AsyncIterator[Stack]:
    state = Path(tempfile.mkdtemp(prefix="hotline-test-"))
    stack = Stack(state)
    try:
        await stack.up()
        yield stack
    finally:
        await stack.down()


@pytest.fixture(scope="session")
async def tester(stack: Stack) -> AsyncIterator[Tester]:
    spec = stack.tester_spec
    tester = Tester(
        spec.ari_url,
        spec.ari_user,
        spec.ari_password,
        spec.recordings_dir,
        stack.state / "tester-media",
    )
    await tester.start()
    yield tester
    await tester.close()


@pytest.fixture
async def controller(stack: Stack) -> AsyncIterator[Stack]:
    """The stack with the controller running (restarted if a test stopped it)."""
    if stack.controller.proc is None:
        await stack.controller.start()
    yield stack


@pytest.fixture
async def pbx_probe(stack: Stack) -> AsyncIterator[AriWatcher]:
    """A second ARI app on the PBX, for tests that place or inspect calls there directly."""
    spec = stack.pbx.spec
    probe = AriWatcher(spec.ari_url, spec.ari_user, spec.ari_password, "probe")
    await probe.start()
    yield probe
    await probe.close()


@pytest.fixture(scope="session")
async def agent_passwords(stack: Stack) -> None:
    """Every test agent gets the same password, set the way admins do."""
    for number in EXTENSIONS:
        code, out, err = await hotline(
            "--config", str(stack.config_file), "agent", "password", number, "--password", PASSWORD
        )
        assert code == 0, out + err


@pytest.fixture
async def centre(controller: Stack, tester: Tester, agent_passwords: None) -> AsyncIterator[Centre]:
    """Agents of one test; all logged out afterwards."""
    centre = Centre(controller, tester)
    try:
        yield centre
    finally:
        await centre.close()
