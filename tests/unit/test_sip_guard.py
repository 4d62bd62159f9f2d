"""The SIP guard over a security log file written by the test and the fake ARI: failures
counted per source within the window, a block written as a pjsip acl and applied by a
res_pjsip reload, lifted when its time is up; never the carrier; a missing, rotated or
truncated log; a reload that fails; blocks kept across a restart."""

from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from hotline.exposure import SecurityConfig
from hotline.pbx.guard import SecurityEvent, SipGuard, parse_event, read_blocked
from tests.fakes.ari import FakeAri

SETTINGS = SecurityConfig(max_auth_failures=3, failure_window_seconds=60, block_seconds=600)
T0 = 1_800_000_000.0
RELOAD = ("PUT", "/asterisk/modules/res_pjsip.so")


def event(kind: str, address: str, account: str = "7101") -> str:
    """One line as Asterisk 22's res_security_log writes it (copied from a real PBX)."""
    return (
        f'[2026-12-02 13:23:59.422] SECURITY[45] res_security_log.c: SecurityEvent="{kind}",'
        'EventTV="2026-12-02T13:23:59.422+0000",Severity="Error",Service="PJSIP",'
        f'EventVersion="1",AccountID="{account}",SessionID="2f1a158dfb6341b7@{address}",'
        'LocalAddress="IPV4/UDP/127.0.0.1/5160",'
        f'RemoteAddress="IPV4/UDP/{address}/48518",Challenge="1796217839/29f0f9",'
        'Response="84b9bef238123c360c834c14392ae965",ExpectedResponse=""\n'
    )


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Scene:
    def __init__(self, tmp_path: Path, carrier_match: str = "127.0.0.1") -> None:
        self.log = tmp_path / "log" / "security.log"
        self.log.parent.mkdir()
        self.log.write_text("[2026-12-02 13:23:56.275] Asterisk 22.10.1 banner\n")
        self.blocked = tmp_path / "etc" / "pjsip-blocked.conf"
        self.blocked.parent.mkdir()
        self.blocked.write_text("; no blocked sources\n")
        self.ari = FakeAri()
        self.clock = Clock()
        self.guard = SipGuard(
            SETTINGS, carrier_match, self.log, self.blocked, self.ari, clock=self.clock
        )
        self.guard.restore()

    def write(self, *lines: str) -> None:
        with self.log.open("a") as out:
            out.write("".join(lines))

    def reloads(self) -> int:
        return sum(1 for r in self.ari.requests if (r.method, r.path) == RELOAD)

    def metric(self, name: str) -> int:
        found = [line for line in self.guard.metrics_lines() if line.startswith(name + " ")]
        return int(found[0].split()[1])


@pytest.fixture
def make_scene(tmp_path: Path) -> Iterator[Callable[..., Scene]]:
    made: list[Scene] = []

    def make(carrier_match: str = "127.0.0.1") -> Scene:
        made.append(Scene(tmp_path, carrier_match))
        return made[-1]

    yield make
    for scene in made:
        scene.guard.follower.close()


@pytest.fixture
async def scene(make_scene: Callable[..., Scene]) -> AsyncIterator[Scene]:
    scene = make_scene()
    await scene.guard.step()  # opens the log at its end, as a starting controller does
    yield scene


def test_a_real_line_of_the_security_log_is_understood() -> None:
    parsed = parse_event(event("ChallengeResponseFailed", "127.0.0.2"))
    assert parsed == SecurityEvent("ChallengeResponseFailed", ("127.0.0.2",), "7101")
    six = event("InvalidAccountID", "x").replace("IPV4/UDP/x/48518", "IPV6/UDP/[2001:db8::7]/5060")
    assert parse_event(six) == SecurityEvent("InvalidAccountID", ("2001:db8::7",), "7101")
    assert parse_event("[2026-12-02 13:23:56.275] Asterisk 22.10.1 banner") is None


async def test_a_user_name_forging_fields_neither_hides_the_failure_nor_its_source(
    scene: Scene,
) -> None:
    forged = 'x",SecurityEvent="SuccessfulAuth",RemoteAddress="IPV4/UDP/127.0.0.9/5060'
    line = event("ChallengeResponseFailed", "127.0.0.2", account=forged)
    parsed = parse_event(line)
    assert parsed is not None and parsed.kind == "ChallengeResponseFailed"
    assert set(parsed.addresses) == {"127.0.0.2", "127.0.0.9"}
    scene.write(line * 3)
    await scene.guard.step()
    assert "deny = 127.0.0.2 ; until" in scene.blocked.read_text()


async def test_a_source_failing_the_limit_within_the_window_is_blocked_and_applied(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hotline.security")
    scene.write(
        event("ChallengeResponseFailed", "127.0.0.2"), event("InvalidAccountID", "127.0.0.2")
    )
    scene.write(event("SuccessfulAuth", "127.0.0.2"), event("ChallengeSent", "127.0.0.2"))
    await scene.guard.step()
    assert scene.reloads() == 0 and "deny" not in scene.blocked.read_text()
    assert scene.metric("hotline_sip_auth_failures_total") == 2  # success and challenge: not

    scene.write(event("ChallengeResponseFailed", "127.0.0.2"))
    await scene.guard.step()
    assert read_blocked(scene.blocked.read_text()) == {"127.0.0.2": T0 + 600}
    assert "[hotline-blocked]\ntype = acl\ndeny = 127.0.0.2 ; until" in scene.blocked.read_text()
    assert stat.S_IMODE(scene.blocked.stat().st_mode) == 0o600
    assert scene.reloads() == 1
    assert scene.metric("hotline_sip_blocks_total") == 1
    assert scene.metric("hotline_sip_sources_blocked") == 1
    assert scene.guard.health()["blocked"] == {"127.0.0.2": "2027-01-15T08:10:00+00:00"}
    [record] = [r for r in caplog.records if "blocked" in r.getMessage()]
    assert record.levelno == logging.WARNING and record.name == "hotline.security"
    assert "127.0.0.2 blocked for 600 s: 3 failed authentications" in record.getMessage()


async def test_failures_older_than_the_window_and_from_others_do_not_add_up(scene: Scene) -> None:
    scene.write(event("ChallengeResponseFailed", "127.0.0.2"))
    await scene.guard.step()
    scene.clock.now += 61
    scene.write(
        event("ChallengeResponseFailed", "127.0.0.2"), event("InvalidPassword", "127.0.0.3")
    )
    scene.write(event("ChallengeResponseFailed", "127.0.0.2"))
    await scene.guard.step()
    assert scene.metric("hotline_sip_auth_failures_total") == 4
    assert scene.metric("hotline_sip_sources_blocked") == 0 and scene.reloads() == 0


async def test_the_block_is_lifted_when_its_time_is_up(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hotline.security")
    scene.write(*[event("ChallengeResponseFailed", "127.0.0.2")] * 3)
    await scene.guard.step()
    scene.clock.now += 599
    await scene.guard.step()
    assert scene.metric("hotline_sip_sources_blocked") == 1 and scene.reloads() == 1
    scene.clock.now += 1
    await scene.guard.step()
    assert scene.blocked.read_text() == "; no blocked sources\n"
    assert scene.reloads() == 2
    assert scene.metric("hotline_sip_sources_blocked") == 0
    assert scene.metric("hotline_sip_blocks_total") == 1
    assert any("127.0.0.2 unblocked" in r.getMessage() for r in caplog.records)
    # Counting starts again from nothing.
    scene.write(*[event("ChallengeResponseFailed", "127.0.0.2")] * 2)
    await scene.guard.step()
    assert scene.metric("hotline_sip_sources_blocked") == 0


async def test_the_carrier_is_never_blocked(make_scene: Callable[..., Scene]) -> None:
    scene = make_scene("127.0.0.1, 198.51.100.0/24, sip.carrier.example")
    await scene.guard.step()
    scene.write(*[event("ChallengeResponseFailed", "127.0.0.1")] * 5)
    scene.write(*[event("InvalidAccountID", "198.51.100.77")] * 5)
    await scene.guard.step()
    assert scene.metric("hotline_sip_auth_failures_total") == 10
    assert scene.metric("hotline_sip_sources_blocked") == 0 and scene.reloads() == 0


async def test_a_log_missing_at_first_then_rotated_and_truncated(
    make_scene: Callable[..., Scene], caplog: pytest.LogCaptureFixture
) -> None:
    scene = make_scene()
    scene.log.unlink()
    await scene.guard.step()
    assert scene.guard.health()["security_log"] == "missing"
    assert any("no security log at" in r.getMessage() for r in caplog.records)
    # It appears: read from its start.
    scene.write(event("ChallengeResponseFailed", "127.0.0.4"))
    await scene.guard.step()
    assert scene.metric("hotline_sip_auth_failures_total") == 1
    # Rotated (renamed, a new one made): the old file's last lines still count.
    scene.write(event("ChallengeResponseFailed", "127.0.0.4"))
    scene.log.rename(scene.log.with_suffix(".log.1"))
    scene.write(event("ChallengeResponseFailed", "127.0.0.5"))
    await scene.guard.step()
    assert scene.metric("hotline_sip_auth_failures_total") == 3
    # Truncated in place, and a line written in two pieces counts once, when whole.
    scene.log.write_text("")
    await scene.guard.step()
    line = event("ChallengeResponseFailed", "127.0.0.4")
    scene.write(line[:50])
    await scene.guard.step()
    assert scene.metric("hotline_sip_auth_failures_total") == 3
    scene.write(line[50:])
    await scene.guard.step()
    assert scene.metric("hotline_sip_auth_failures_total") == 4
    assert scene.metric("hotline_sip_sources_blocked") == 1  # 127.0.0.4: three within 60 s


async def test_a_failed_reload_is_tried_again_until_it_is_applied(scene: Scene) -> None:
    scene.ari.fail(*RELOAD, error=503, times=2)
    scene.write(*[event("ChallengeResponseFailed", "127.0.0.2")] * 3)
    await scene.guard.step()
    assert scene.guard.health()["applied"] is False
    await scene.guard.step()
    assert scene.guard.health()["applied"] is False
    await scene.guard.step()
    assert scene.guard.health()["applied"] is True
    assert scene.reloads() == 3
    await scene.guard.step()
    assert scene.reloads() == 3  # nothing changed since


async def test_blocks_in_force_survive_a_restart_and_expired_ones_go(
    make_scene: Callable[..., Scene],
) -> None:
    scene = make_scene()
    scene.blocked.write_text(
        "[hotline-blocked]\ntype = acl\n"
        f"deny = 127.0.0.2 ; until {T0 + 100:.0f}\ndeny = 127.0.0.3 ; until {T0 - 1:.0f}\n"
        f"deny = 127.0.0.1 ; until {T0 + 100:.0f}\n"  # the carrier, since the config changed
    )
    scene.guard.restore()
    await scene.guard.step()
    assert read_blocked(scene.blocked.read_text()) == {"127.0.0.2": T0 + 100}
    assert scene.reloads() == 1
    assert scene.metric("hotline_sip_sources_blocked") == 1


async def test_a_guard_restarted_by_the_supervisor_does_not_count_old_failures_again(
    scene: Scene,
) -> None:
    scene.write(*[event("ChallengeResponseFailed", "127.0.0.2")] * 2)
    await scene.guard.step()
    scene.guard.follower.close()  # what run() does when it ends, as before a restart
    scene.guard.restore()
    await scene.guard.step()
    scene.write(event("ChallengeResponseFailed", "127.0.0.3"))
    await scene.guard.step()
    assert scene.metric("hotline_sip_auth_failures_total") == 3
    assert scene.metric("hotline_sip_sources_blocked") == 0


async def test_the_running_guard_blocks_as_the_log_grows_and_stops_when_cancelled(
    scene: Scene,
) -> None:
    reloaded = asyncio.Event()

    class Pbx:
        async def reload_module(self, module: str) -> None:
            assert module == "res_pjsip.so"
            reloaded.set()

    scene.guard.pbx, scene.guard.poll_seconds = Pbx(), 0.01
    task = asyncio.create_task(scene.guard.run())
    scene.write(*[event("InvalidAccountID", "127.0.0.2", "<unknown>")] * 3)
    async with asyncio.timeout(5):
        await reloaded.wait()
    assert "deny = 127.0.0.2 ; until" in scene.blocked.read_text()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert scene.guard.follower._file is None  # closed on the way out
