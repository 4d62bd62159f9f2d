"""The SIP guard: a source that keeps failing authentication is blocked for a while.

Asterisk has no fail2ban of its own. Its res_security_log writes every security event to
the security log (asterisk-conf/logger.conf), which the container keeps on the host in
``<state>/pbx/log``. The guard follows that file, counts failed authentications (a wrong
password, an unknown user name) per source address within a window, and when a source
passes the limit writes a pjsip ``type = acl`` deny into ``/etc/hotline/pjsip-blocked.conf``
and reloads res_pjsip over ARI: from then on Asterisk answers that source 403 before any
endpoint or password is looked at. When the block's time is up, it is lifted the same way.
The carrier's addresses (``pbx.carrier_match``) are never blocked. The file keeps each
block's end, so a controller that restarts keeps the blocks still in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import logging
import os
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from hotline.ari.errors import AriError
from hotline.exposure import SecurityConfig
from hotline.prometheus import Sample, unlabelled

# A security event that is someone failing to authenticate (FailedACL: refused by an ACL
# the admin set; our own blocks answer 403 without logging one).
FAILURES = frozenset(
    {"ChallengeResponseFailed", "InvalidAccountID", "InvalidPassword", "FailedACL"}
)
ACL_SECTION = "hotline-blocked"
# /etc/hotline/<BLOCKED_INCLUDE>, included from asterisk-conf/pjsip.conf.
BLOCKED_INCLUDE = "pjsip-blocked.conf"
NO_BLOCKS = "; no blocked sources\n"
# Applies a change of pjsip acl sections (verified: PUT /asterisk/modules/res_pjsip.so).
PJSIP_MODULE = "res_pjsip.so"

security_log = logging.getLogger("hotline.security")

_KIND = re.compile(
    r'^\[[^\]]*\] SECURITY\[\d+\](?:\[[^\]]*\])? res_security_log\.c: SecurityEvent="(\w+)"'
)
_REMOTE = re.compile(r',RemoteAddress="IPV[46]/[A-Z]+/\[?([0-9A-Fa-f.:]+?)\]?/\d+"')
_ACCOUNT = re.compile(r',AccountID="([^"]*)"')
_BLOCK_LINE = re.compile(r"^deny = (\S+) ; until (\d+(?:\.\d+)?)")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ModuleReloader(Protocol):
    async def reload_module(self, module: str) -> None: ...


@dataclass(frozen=True)
class SecurityEvent:
    kind: str  # SecurityEvent, e.g. ChallengeResponseFailed
    # The remote address, without port. Asterisk writes field values unescaped, and the
    # user name and Call-ID are the sender's: one with quotes in it can forge fields. The
    # event's kind is read where it starts the line (no value comes before it); a line
    # naming several remote addresses counts for each, so a forgery cannot escape the
    # count (it could only add to it what a spoofed UDP source could anyway).
    addresses: tuple[str, ...]
    account: str  # the user name it tried ("<unknown>" when none); for the log only


def parse_event(line: str) -> SecurityEvent | None:
    """One line of the security log; None for anything else (its banner, a torn line)."""
    kind = _KIND.match(line)
    addresses = tuple(dict.fromkeys(_REMOTE.findall(line)))
    if kind is None or not addresses:
        return None
    account = _ACCOUNT.search(line)
    return SecurityEvent(kind.group(1), addresses, account.group(1) if account else "")


def carrier_networks(carrier_match: str) -> list[Network]:
    """``pbx.carrier_match`` (a pjsip identify match: addresses and networks, commas
    between); host names name no address here and are left out."""
    networks: list[Network] = []
    for part in carrier_match.split(","):
        with contextlib.suppress(ValueError):
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
    return networks


class LogFollower:
    """The new complete lines of a file that may be missing, rotated or truncated."""

    def __init__(self, path: Path, max_read: int = 256 * 1024) -> None:
        self.path = path
        self.max_read = max_read
        self.missing = False
        self._file: IO[bytes] | None = None
        self._inode = -1
        self._partial = b""
        self._started = False

    def read(self) -> list[str]:
        lines: list[str] = []
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self.missing = True
            self._started = True  # the file that appears later is all new
            return self._drain_and_close()
        self.missing = False
        if self._file is not None and stat.st_ino != self._inode:
            lines = self._drain_and_close()  # rotated: the old file's rest, then the new one
        if self._file is None:
            self._open(stat, at_end=not self._started)
        elif stat.st_size < self._file.tell():
            self._file.seek(0)  # truncated in place
            self._partial = b""
        self._started = True
        return lines + self._lines()

    def close(self) -> None:
        """Stop following; a later read starts again at the file's end (a restarted
        guard does not count old failures twice)."""
        self._close_file()
        self._started = False

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self, stat: os.stat_result, at_end: bool) -> None:
        # The first time, what is already there was seen by an earlier controller (its
        # blocks are in the blocked file); a file that appears or replaces one is new.
        self._file = self.path.open("rb")
        self._inode = stat.st_ino
        self._partial = b""
        if at_end:
            self._file.seek(0, os.SEEK_END)

    def _lines(self) -> list[str]:
        assert self._file is not None
        data = self._partial + self._file.read(self.max_read)
        *complete, self._partial = data.split(b"\n")
        return [line.decode(errors="replace") for line in complete]

    def _drain_and_close(self) -> list[str]:
        if self._file is None:
            return []
        lines = self._lines()
        self._close_file()
        return lines


class Blocks:
    """Who is blocked until when (wall-clock seconds), and the failures that lead there."""

    def __init__(self, settings: SecurityConfig, never: Sequence[Network]) -> None:
        self.settings = settings
        self.never = list(never)
        self.until: dict[str, float] = {}
        self._failures: dict[str, deque[float]] = {}

    def exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return True  # not an address we could write into an acl
        return any(ip in network for network in self.never)

    def fail(self, address: str, now: float) -> bool:
        """One failure from ``address``; True when it is blocked by it."""
        if address in self.until or self.exempt(address):
            return False
        seen = self._failures.setdefault(address, deque())
        seen.append(now)
        while seen and seen[0] <= now - self.settings.failure_window_seconds:
            seen.popleft()
        if len(seen) < self.settings.max_auth_failures:
            return False
        del self._failures[address]
        self.until[address] = now + self.settings.block_seconds
        return True

    def expire(self, now: float) -> list[str]:
        over = [address for address, until in self.until.items() if until <= now]
        for address in over:
            del self.until[address]
        # Forget sources whose failures are all older than the window (bounded memory).
        horizon = now - self.settings.failure_window_seconds
        for address in [a for a, seen in self._failures.items() if seen[-1] <= horizon]:
            del self._failures[address]
        return over


def render_blocked(until: dict[str, float]) -> str:
    if not until:
        return NO_BLOCKS
    lines = [
        "; Written by the hotline controller's SIP guard (hotline.pbx.guard): sources that",
        "; failed authentication too often, until the time after each (Unix seconds).",
        f"[{ACL_SECTION}]",
        "type = acl",
    ]
    lines += [f"deny = {address} ; until {end:.0f}" for address, end in sorted(until.items())]
    return "\n".join(lines) + "\n"


def read_blocked(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in text.splitlines():
        match = _BLOCK_LINE.match(line.strip())
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, mode 0600 from the first byte (a temporary file
    renamed over it, so Asterisk never reads half a file)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)


class SipGuard:
    """Follows the security log, blocks and unblocks sources (a supervised task)."""

    def __init__(
        self,
        settings: SecurityConfig,
        carrier_match: str,
        security_log_file: Path,
        blocked_file: Path,
        pbx: ModuleReloader,
        clock: Callable[[], float] = time.time,
        poll_seconds: float = 0.5,
    ) -> None:
        self.blocks = Blocks(settings, carrier_networks(carrier_match))
        self.follower = LogFollower(security_log_file)
        self.blocked_file = blocked_file
        self.pbx = pbx
        self.clock = clock
        self.poll_seconds = poll_seconds
        self.failures = 0
        self.blocks_made = 0
        self._applied: str | None = None  # the file's text the PBX has loaded
        self._reload_failing = False
        self._told_missing = False

    async def run(self) -> None:
        try:
            self.restore()
            while True:
                await self.step()
                await asyncio.sleep(self.poll_seconds)
        finally:
            self.follower.close()

    def restore(self) -> None:
        """Blocks still in force from the blocked file (a restarted controller)."""
        try:
            text = self.blocked_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = NO_BLOCKS
        self._applied = text
        now = self.clock()
        for address, until in read_blocked(text).items():
            if until > now and not self.blocks.exempt(address):
                self.blocks.until[address] = until

    async def step(self) -> None:
        """Read what the PBX logged since the last step; block, unblock, apply."""
        events = await asyncio.to_thread(self._read_failures)
        self._tell_missing()
        now = self.clock()
        for event in events:
            self._failed(event, now)
        for address in self.blocks.expire(now):
            security_log.info("SIP source %s unblocked (its %s s are up)", address, self._block_s)
        await self._apply()

    def _read_failures(self) -> list[SecurityEvent]:
        """(In a thread: a flood of failures is a lot of lines.)"""
        events = (parse_event(line) for line in self.follower.read())
        return [e for e in events if e is not None and e.kind in FAILURES]

    @property
    def _block_s(self) -> str:
        return f"{self.blocks.settings.block_seconds:g}"

    def _failed(self, event: SecurityEvent, now: float) -> None:
        self.failures += 1
        for address in event.addresses:
            security_log.debug("%s from %s as %r", event.kind, address, event.account)
            if self.blocks.fail(address, now):
                self._blocked(address, event)

    def _blocked(self, address: str, event: SecurityEvent) -> None:
        self.blocks_made += 1
        settings = self.blocks.settings
        security_log.warning(
            "SIP source %s blocked for %s s: %d failed authentications within %g s "
            "(the last: %s as %r)",
            address,
            self._block_s,
            settings.max_auth_failures,
            settings.failure_window_seconds,
            event.kind,
            event.account,
        )

    async def _apply(self) -> None:
        text = render_blocked(self.blocks.until)
        if text == self._applied:
            return
        try:
            write_private(self.blocked_file, text)
            await self.pbx.reload_module(PJSIP_MODULE)
        except (AriError, OSError) as exc:
            if not self._reload_failing:
                security_log.error(
                    "the blocked sources could not be applied (%s); trying again",
                    exc.message if isinstance(exc, AriError) else exc,
                )
            self._reload_failing = True
            return
        if self._reload_failing:
            security_log.info("the blocked sources are applied again")
        self._reload_failing = False
        self._applied = text

    def _tell_missing(self) -> None:
        if self.follower.missing and not self._told_missing:
            security_log.warning(
                "no security log at %s (yet): failed SIP authentication is not counted "
                "until the PBX writes it",
                self.follower.path,
            )
        elif not self.follower.missing and self._told_missing:
            security_log.info("following the security log %s", self.follower.path)
        self._told_missing = self.follower.missing

    # --- what the controller shows ------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return {
            "security_log": "missing" if self.follower.missing else "following",
            "applied": not self._reload_failing,
            "blocked": {
                address: dt.datetime.fromtimestamp(until, dt.UTC).isoformat(timespec="seconds")
                for address, until in sorted(self.blocks.until.items())
            },
        }

    def metrics_lines(self) -> list[str]:
        families: tuple[Sample, ...] = (
            (
                "hotline_sip_auth_failures_total",
                "counter",
                "Failed SIP authentications in the PBX's security log.",
                self.failures,
            ),
            (
                "hotline_sip_blocks_total",
                "counter",
                "SIP sources blocked for failing authentication.",
                self.blocks_made,
            ),
            (
                "hotline_sip_sources_blocked",
                "gauge",
                "SIP sources blocked now.",
                len(self.blocks.until),
            ),
        )
        return unlabelled(families)
