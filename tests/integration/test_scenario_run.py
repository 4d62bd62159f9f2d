"""``hotline scenario run``: an admin's script calls the running hotline for real; a right
script passes, a wrong expectation fails and names the step."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.harness.cli import hotline
from tests.harness.db import call_for
from tests.harness.stack import Stack

SCENARIOS = Path(__file__).resolve().parents[2] / "ivr" / "scenarios"

WRONG = """\
name: repair expected where installation is
call: {to: "4008001235", from: "13600136009"}
steps:
  - expect: greeting
  - expect: main-menu
  - press: "1"
  - expect: repair-menu
  - hangup
"""


async def test_right_scenarios_pass_and_a_wrong_one_names_its_step(controller: Stack) -> None:
    config = str(controller.config_file)
    wrong = controller.state / "wrong.yaml"
    wrong.write_text(WRONG, encoding="utf-8")
    # Two admins' runs at once, as two callers: each must judge only its own call.
    (code, out, err), wrong_run = await asyncio.gather(
        hotline(
            "--config", config, "scenario", "run", str(SCENARIOS / "install.yaml"), timeout=120
        ),
        hotline("--config", config, "scenario", "run", str(wrong), timeout=120),
    )
    assert code == 0, out + err
    assert f"PASS {SCENARIOS / 'install.yaml'}: 报装 with read-back" in out
    # The call was a real one, through the carrier's dialplan, stored like any other.
    record = await call_for(controller, "13800138000", timeout=5, closed=True)
    assert record.dialled_number == "4008001234" and record.keys.startswith("113800138000#1")

    code, out, err = wrong_run
    assert code == 1, out + err
    line = next(ln for ln in out.splitlines() if ln.startswith("FAIL"))
    assert line.startswith(f"FAIL {wrong}: step 4 (expect: repair-menu): not heard within")
    assert "enter-phone-number" in line  # what the hotline played instead
    failed = await call_for(controller, "13600136009", timeout=10, closed=True)
    assert failed.priority == 7  # and the scenario's call hung up, nothing left behind
