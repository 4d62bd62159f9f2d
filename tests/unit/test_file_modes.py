"""Data at rest: what the controller writes under its state directory is its own from the
first byte (the umask the ``hotline`` command sets at its entry), the directory is 0700
even when an older version left it open, and the PBX container runs with the same umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from hotline.config import DEFAULT_MENU
from hotline.pbx.instance import Instance
from hotline.pbx.podman import Podman
from hotline.secrets import PRIVATE_UMASK, private_state_dir
from tests.harness import stack

# In a process of its own (the umask is the process's): the command's entry, then what
# `hotline run` writes before the PBX starts: the database, the secrets, the phones'
# passwords and the PBX's generated configuration.
MAKE_STATE = """
import sys
from pathlib import Path
from hotline.app import pbx_spec
from hotline.cli import main
from hotline.config import load_config
from hotline.pbx.instance import write_includes
from hotline.secrets import ensure_secrets

config_file = Path(sys.argv[1])
assert main(["--config", str(config_file), "config", "check"]) == 0
config = load_config(config_file, {})
secrets = ensure_secrets(config.state_dir)
write_includes(pbx_spec(config, secrets))
assert main(["--config", str(config_file), "report", "--by", "all"]) == 0
"""


def open_to_others(root: Path) -> list[str]:
    """Every path under root (root too) that its group or others may write, read or enter."""
    found = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {oct(mode)}")
    return found


def test_the_database_secrets_and_generated_configs_are_private_from_the_first_byte(
    tmp_path: Path,
) -> None:
    state = tmp_path / "var"
    config_file = tmp_path / "hotline.yaml"
    config_file.write_text(f"state_dir: {state}\nmenu: {{file: {DEFAULT_MENU}}}\n")
    os.chmod(tmp_path, 0o755)
    done = subprocess.run(
        [sys.executable, "-c", MAKE_STATE, str(config_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    made = {str(p.relative_to(state)) for p in state.rglob("*") if p.is_file()}
    assert {"hotline.db", "secrets.json", "phones.json", "pbx/etc/pjsip.conf"} <= made
    assert open_to_others(state) == []


def test_an_open_state_dir_left_by_an_older_version_is_closed(tmp_path: Path) -> None:
    state = tmp_path / "var"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    private_state_dir(state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_the_pbx_container_writes_with_the_same_umask(tmp_path: Path) -> None:
    """Recordings, messages and logs the PBX writes under the state directory."""
    spec = stack.tester_spec(tmp_path, stack.Ports(), "a-password")
    args = Instance(spec, Podman({}), lambda _: None)._run_args()
    umask = args.index("--umask")
    assert int(args[umask + 1], 8) == PRIVATE_UMASK and umask < args.index(spec.image)
