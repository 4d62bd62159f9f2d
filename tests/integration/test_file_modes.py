"""Data at rest over the real stack: after a recorded call, nothing under the state
directory (database and its journal, secrets, the PBX's generated configuration, the
recordings a PBX container wrote, the stored recording, prompts, logs) is open to the
group or others."""

from __future__ import annotations

from tests.harness.centre import Centre
from tests.harness.db import recording_of
from tests.integration.test_recording import survey_call
from tests.unit.test_file_modes import open_to_others


async def test_nothing_under_the_state_dir_is_open_to_others_after_a_recorded_call(
    centre: Centre,
) -> None:
    stack = centre.stack
    await centre.agent("1001")
    caller, call_id, _ = await survey_call(centre, "4", "13800002401", "1001")
    await caller.hangup()
    row = await recording_of(stack, call_id, 30)
    state = stack.state
    made = {str(p.relative_to(state)) for p in state.rglob("*") if p.is_file()}
    # What the walk must have seen, so it cannot pass over an empty directory.
    seen = {"hotline.db", "secrets.json", "phones.json", "pbx/etc/pjsip.conf"}
    assert seen <= made, sorted(made)
    store = stack.config.recordings_store.relative_to(state)
    assert str(store / row.path) in made, sorted(made)
    # The PBX's own copy is deleted once stored; what the tester's Asterisk (the same
    # container set-up, umask included) recorded of the call is still there.
    pbx_written = str(stack.tester_spec.recordings_dir.relative_to(state))
    assert any(p.startswith(f"{pbx_written}/") for p in made), sorted(made)
    assert open_to_others(state) == []
