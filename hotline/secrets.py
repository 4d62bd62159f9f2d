"""Secrets generated on first run, kept in <state_dir>/secrets.json (mode 0600, not in git)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path


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
