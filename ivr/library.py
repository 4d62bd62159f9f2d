"""The menu in service, its reloads, and every version a call may still be on.

A reload reads the file once, checks that text completely (the same checks as
``hotline menu check``) and only then swaps it in; a rejected file changes nothing. Each
accepted version's text is stored, so a call can finish on the version it started with,
even after a controller restart, while new calls get the newest.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, String, Text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from hotline.db import Base, session_factory
from hotline.errors import HotlineError
from hotline.outbound import OutboundPolicy
from ivr import model
from ivr.check import Finding, check_text
from ivr.source import MenuError

log = logging.getLogger(__name__)


class MenuRejected(HotlineError):
    """A menu file failed its checks; the menu in service stays as it was."""

    error_id = "menu-rejected"
    http_status = 422


class MenuVersion(Base):
    __tablename__ = "menu_versions"

    version: Mapped[str] = mapped_column(String(16), primary_key=True)
    path: Mapped[str] = mapped_column(String(512))
    text: Mapped[str] = mapped_column(Text)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@dataclass(frozen=True)
class ReloadResult:
    menu: model.Menu
    changed: bool
    warnings: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "version": self.menu.version,
            "changed": self.changed,
            "nodes": len(self.menu.nodes),
            "warnings": list(self.warnings),
        }


# Called after a new version is in service, with (old, new).
OnChange = Callable[[model.Menu, model.Menu], Awaitable[None]]


class MenuLibrary:
    def __init__(
        self,
        path: Path,
        prompt_ids: Iterable[str],
        engine: AsyncEngine,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self.path = path
        self.prompt_ids = frozenset(prompt_ids)
        # A new version with an outside: target the policy refuses is rejected. (A stored
        # version a call is still on is rebuilt without: its refused targets are refused
        # when dialled.)
        self.outbound = outbound
        self._sessions = session_factory(engine)
        self._versions: dict[str, model.Menu] = {}
        self._current: model.Menu | None = None
        self._lock = asyncio.Lock()  # one reload at a time (file watch and command)
        self._stamp: tuple[int, int] | None = None
        self.on_change: list[OnChange] = []

    @property
    def loaded(self) -> bool:
        return self._current is not None

    @property
    def current(self) -> model.Menu:
        if self._current is None:
            raise RuntimeError("the menu library is not loaded yet")
        return self._current

    async def load(self) -> ReloadResult:
        """Read the file and put it in service (first load and every reload)."""
        async with self._lock:
            self._stamp = _stamp(self.path)
            try:
                text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
            except OSError as exc:
                raise MenuRejected(f"{self.path}: cannot read the menu: {exc.strerror}") from None
            menu, findings = check_text(self.path, text, self.prompt_ids, self.outbound)
            errors = [f.message for f in findings if f.level == "error"]
            if menu is None:
                raise MenuRejected(errors[0], errors=errors)
            old = self._current
            changed = old is None or old.version != menu.version
            if changed:
                await self._store(menu, text)
                self._versions[menu.version] = menu
                self._current = menu
            if old is not None and changed:
                log.info("menu %s now in service (was %s)", menu.version, old.version)
                for listener in self.on_change:
                    await listener(old, menu)
            return ReloadResult(menu, changed, _warnings(findings))

    async def version(self, version: str) -> model.Menu | None:
        """A version a call started on: in memory, or rebuilt from its stored text."""
        if version in self._versions:
            return self._versions[version]
        async with self._sessions() as db:
            stored = await db.get(MenuVersion, version)
        if stored is None:
            return None
        menu, _ = check_text(Path(stored.path), stored.text, self.prompt_ids)
        if menu is not None:
            self._versions[version] = menu
        return menu

    async def watch(self, interval: float = 1.0) -> None:
        """Reload when the file changes (run as a task owned by the composition root)."""
        while True:
            await asyncio.sleep(interval)
            stamp = _stamp(self.path)
            if stamp is None or stamp == self._stamp:
                continue
            try:
                result = await self.load()
                if result.changed:
                    log.info("menu file changed: version %s in service", result.menu.version)
            except (MenuRejected, MenuError) as exc:
                log.error("menu file changed but was rejected; the running menu stays: %s", exc)

    async def _store(self, menu: model.Menu, text: str) -> None:
        async with self._sessions.begin() as db:
            if await db.get(MenuVersion, menu.version) is None:
                db.add(
                    MenuVersion(
                        version=menu.version,
                        path=str(self.path),
                        text=text,
                        loaded_at=datetime.now(UTC),
                    )
                )


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _warnings(findings: list[Finding]) -> tuple[str, ...]:
    return tuple(f.message for f in findings if f.level == "warning")
