"""Secrets generated on first run, kept in <state_dir>/secrets.json (mode 0600, not in git),
and the rule that keeps the whole state directory private."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

# Files the hotline makes are its own from their first byte: the database (password, PIN
# and token hashes, call history), recordings, messages, secrets and the PBX's generated
# configuration. The ``hotline`` command sets this at its entry, before anything is
# written, and the PBX container runs with the same (hotline.pbx.instance).
PRIVATE_UMASK = 0o077


def keep_files_private() -> None:
    """From now on this process creates files 0600 and directories 0700."""
    os.umask(PRIVATE_UMASK)


def private_state_dir(state_dir: Path) -> None:
    """The state directory, made 0700 (also one an older version left open): nobody else
    may list or enter it, whatever the modes of what is inside."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    state_dir.chmod(0o700)


@dataclass(frozen=True)
class Secrets:
    ari_password: str
    admin_token: str  # `hotline menu reload` and other admin commands send it to the controller


def phone_passwords(state_dir: Path, extensions: list[str]) -> dict[str, str]:
    """SIP passwords of agents' phones, generated the first time an extension appears
    (<state_dir>/phones.json, mode 0600); `hotline agent phone NUMBER` shows one."""
    path = state_dir / "phones.json"
    data: dict[str, str] = {}
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    missing = [e for e in extensions if not data.get(e)]
    for extension in missing:
        data[extension] = secrets.token_urlsafe(18)
    if missing:
        _write_private(path, data)
    return {e: data[e] for e in extensions}


def _write_private(path: Path, data: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=1)


def ensure_secrets(state_dir: Path) -> Secrets:
    """The generated secrets (made the first time); the state directory made private."""
    private_state_dir(state_dir)
    path = state_dir / "secrets.json"
    data: dict[str, str] = {}
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    missing = [k for k in ("ari_password", "admin_token") if not data.get(k)]
    for key in missing:
        data[key] = secrets.token_urlsafe(24)
    if missing:
        _write_private(path, data)
    return Secrets(ari_password=data["ari_password"], admin_token=data["admin_token"])
