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


def ensure_secrets(state_dir: Path) -> Secrets:
    path = state_dir / "secrets.json"
    data: dict[str, str] = {}
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    if not data.get("ari_password"):
        data["ari_password"] = secrets.token_urlsafe(24)
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1)
    return Secrets(ari_password=data["ari_password"])
