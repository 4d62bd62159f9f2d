"""PIN failures counted per account across calls (ivr.accounts) on a fake clock: the
window, the lock and its end, unlock; the menu's lock settings; the runner's way out."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.cli import main
from hotline.db import make_engine, session_factory
from ivr.accounts import AccountError, Accounts, PinFailure
from ivr.loader import load_menu
from ivr.model import PinCheck, PinLock, VerifyNode
from ivr.source import MenuError
from tests.unit.test_menu_runner import MENU, ScriptedCaller, Services, walk

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, PIN = "12345678", "2468"
LOCK = PinLock(failures=3, within=dt.timedelta(minutes=10), duration=dt.timedelta(minutes=30))


class Clock:
    def __init__(self) -> None:
        # Not UTC on purpose: what is stored and compared must be UTC all the same.
        self.now = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **span: float) -> None:
        self.now += dt.timedelta(**span)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def accounts(engine: AsyncEngine, clock: Clock) -> Accounts:
    accounts = Accounts(engine, clock)
    await accounts.set_pin(ACCOUNT, PIN)
    return accounts


async def wrong(accounts: Accounts, times: int, number: str = ACCOUNT) -> list[PinCheck]:
    return [(await accounts.check_pin(number, "0000", LOCK)).check for _ in range(times)]


async def test_n_wrong_within_the_window_lock_even_the_right_pin_out(
    accounts: Accounts, clock: Clock
) -> None:
    assert await wrong(accounts, 2) == [PinCheck.WRONG, PinCheck.WRONG]
    clock.advance(minutes=9)  # still within 10 minutes of the first
    locking = await accounts.check_pin(ACCOUNT, "1111", LOCK)
    assert locking.check is PinCheck.LOCKED and locking.just_locked and locking.failures == 3
    assert locking.locked_until == clock.now + dt.timedelta(minutes=30)
    refused = await accounts.check_pin(ACCOUNT, PIN, LOCK)
    assert refused.check is PinCheck.LOCKED and not refused.just_locked
    status = await accounts.status(ACCOUNT)
    assert status.exists and status.locked_until == locking.locked_until


async def test_failures_older_than_the_window_do_not_count(
    accounts: Accounts, clock: Clock
) -> None:
    await wrong(accounts, 2)
    clock.advance(minutes=10, seconds=1)  # those two have left the window
    assert await wrong(accounts, 2) == [PinCheck.WRONG, PinCheck.WRONG]
    assert (await accounts.check_pin(ACCOUNT, PIN, LOCK)).check is PinCheck.OK


async def test_the_lock_ends_after_its_time_and_counting_starts_afresh(
    accounts: Accounts, clock: Clock
) -> None:
    await wrong(accounts, 3)
    clock.advance(minutes=29, seconds=59)
    assert (await accounts.check_pin(ACCOUNT, PIN, LOCK)).check is PinCheck.LOCKED
    clock.advance(seconds=2)
    assert (await accounts.status(ACCOUNT)).locked_until is None
    # The failures behind the lock are spent: two new ones do not lock it again.
    assert await wrong(accounts, 2) == [PinCheck.WRONG, PinCheck.WRONG]
    assert (await accounts.check_pin(ACCOUNT, PIN, LOCK)).check is PinCheck.OK


async def test_wrong_pins_while_locked_are_neither_compared_nor_counted(
    accounts: Accounts, clock: Clock
) -> None:
    await wrong(accounts, 3)
    assert await wrong(accounts, 20) == [PinCheck.LOCKED] * 20
    assert (await accounts.status(ACCOUNT)).recent_failures == 0
    clock.advance(minutes=31)
    assert (await accounts.check_pin(ACCOUNT, PIN, LOCK)).check is PinCheck.OK


async def test_a_right_pin_clears_the_count(accounts: Accounts) -> None:
    await wrong(accounts, 2)
    assert (await accounts.check_pin(ACCOUNT, PIN, LOCK)).check is PinCheck.OK
    assert await wrong(accounts, 2) == [PinCheck.WRONG, PinCheck.WRONG]


async def test_unlock_lifts_the_lock_and_forgets_the_failures(
    accounts: Accounts, clock: Clock
) -> None:
    await wrong(accounts, 3)
    assert await accounts.unlock(ACCOUNT) is True
    status = await accounts.status(ACCOUNT)
    assert status.locked_until is None and status.recent_failures == 0
    assert (await accounts.check_pin(ACCOUNT, PIN, LOCK)).check is PinCheck.OK
    await wrong(accounts, 2)
    assert await accounts.unlock(ACCOUNT) is False  # not locked; its two failures go too
    assert (await accounts.status(ACCOUNT)).recent_failures == 0


async def test_numbers_without_an_account_lock_alike(accounts: Accounts) -> None:
    """A lock must not tell a guesser which account numbers exist."""
    assert await wrong(accounts, 4, number="99999999") == [
        PinCheck.WRONG,
        PinCheck.WRONG,
        PinCheck.LOCKED,
        PinCheck.LOCKED,
    ]
    status = await accounts.status("99999999")
    assert not status.exists and status.locked_until is not None
    assert (await accounts.check_pin(ACCOUNT, PIN, LOCK)).check is PinCheck.OK  # others not


async def test_the_failures_table_keeps_one_window_only(
    engine: AsyncEngine, accounts: Accounts, clock: Clock
) -> None:
    for number in ("11111111", "22222222", "33333333"):
        await wrong(accounts, 1, number=number)
    clock.advance(minutes=11)
    await wrong(accounts, 1)
    async with session_factory(engine)() as db:
        kept = (await db.execute(select(func.count()).select_from(PinFailure))).scalar_one()
    assert kept == 1


async def test_account_numbers_are_ascii_digits(accounts: Accounts) -> None:
    for bad in ("١٢٣٤٥٦", "12-34", "1" * 33):
        with pytest.raises(AccountError):
            await accounts.unlock(bad)
        with pytest.raises(AccountError):
            await accounts.set_pin(bad, PIN)


# --- the menu's settings ------------------------------------------------------------------
def test_the_default_menu_locks_after_two_calls_worth_of_tries() -> None:
    node = MENU.nodes["account-pin"]
    assert isinstance(node, VerifyNode)
    assert node.lock == PinLock(6, dt.timedelta(minutes=60), dt.timedelta(minutes=60))
    assert node.lock.failures == 2 * node.tries


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        ("failures: 6 ", "failures: 0 ", "failures", "must be between 1 and 100, got 0"),
        ("failures: 6 ", "failures: lots ", "failures", "expected a whole number"),
        ("for_minutes: 60 ", "for_minutes: 0 ", "for_minutes", "must be between 1 and"),
        ("within_minutes: 60 ", "within: 60 ", "within", "unknown key"),
    ],
)
def test_broken_lock_settings_name_file_line_and_key(
    tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    text = (ROOT / "ivr" / "default-menu.yaml").read_text(encoding="utf-8")
    assert text.count(old) == 1
    line = text[: text.index(old)].count("\n") + 1
    path = tmp_path / "menu.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(MenuError) as err:
        load_menu(path)
    expected = f"{path}:{line}: nodes.account-pin.lock.{key}: "
    assert err.value.message.startswith(expected), err.value.message
    assert problem in err.value.message


# --- the runner -----------------------------------------------------------------------------
class LockingServices(Services):
    """Answers LOCKED from the ``locks_at``-th PIN checked on, like a store would."""

    def __init__(self, locks_at: int) -> None:
        super().__init__()
        self.locks_at = locks_at
        self.checked: list[tuple[str, str, PinLock]] = []

    async def check_pin(self, account: str, pin: str, lock: PinLock) -> PinCheck:
        self.checked.append((account, pin, lock))
        if len(self.checked) >= self.locks_at:
            return PinCheck.LOCKED
        return await super().check_pin(account, pin, lock)


async def test_a_locked_account_hears_pin_locked_and_goes_to_a_person() -> None:
    services = LockingServices(locks_at=1)
    caller = ScriptedCaller("3", *"12345678#", "1", *"4321#")  # the right PIN
    _, ctx, moves = await walk(caller, services)
    node = MENU.nodes["account-pin"]
    assert isinstance(node, VerifyNode)
    assert services.checked == [("12345678", "4321", node.lock)]
    assert "account-pin:pin locked" in moves and "account-pin:pin ok" not in moves
    assert caller.prompts()[-2:] == ["pin-locked", "transferring"]  # agent, then operator
    assert "agent:enter" in moves and "account-queue:enter" not in moves
    assert ctx.keys.endswith("****#")  # the PIN stays a secret on the record


async def test_a_lock_reached_mid_call_ends_the_tries_at_once() -> None:
    services = LockingServices(locks_at=2)
    caller = ScriptedCaller("3", *"12345678#", "1", *"1111#", *"2222#", *"4321#")
    _, _, moves = await walk(caller, services)
    assert len(services.checked) == 2  # no third try once locked
    assert caller.prompts().count("pin-wrong") == 1
    assert "account-pin:pin wrong 1" in moves and "account-pin:pin locked" in moves


async def test_no_pin_entered_is_a_try_but_no_guess() -> None:
    services = LockingServices(locks_at=99)
    caller = ScriptedCaller("3", *"12345678#", "1", None, *"4321#")
    _, _, moves = await walk(caller, services)
    assert [pin for _, pin, _ in services.checked] == ["4321"]
    assert "account-pin:pin wrong 1" in moves and "account-pin:pin ok" in moves


# --- the commands -------------------------------------------------------------------------
async def account_command(config: Path, *args: str) -> int:
    # The command runs its own event loop: in a worker thread, away from the tests' loop.
    return await asyncio.to_thread(main, ["--config", str(config), "account", *args])


async def test_account_status_and_unlock_commands(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await account_command(config_file, "set", ACCOUNT, "--pin", PIN) == 0
    assert await account_command(config_file, "status", ACCOUNT) == 0
    out = capsys.readouterr().out
    assert "PIN set:\tyes" in out and "lock:\tnot locked" in out

    engine = make_engine(f"sqlite+aiosqlite:///{config_file.parent / 'hotline.db'}")
    try:
        locked = await Accounts(engine).check_pin(ACCOUNT, "0000", PinLock(failures=1))
    finally:
        await engine.dispose()
    assert locked.check is PinCheck.LOCKED and locked.locked_until is not None
    assert await account_command(config_file, "status", ACCOUNT) == 0
    assert f"locked until {locked.locked_until:%Y-%m-%d %H:%M:%S} UTC" in capsys.readouterr().out

    assert await account_command(config_file, "unlock", ACCOUNT) == 0
    assert f"account {ACCOUNT} unlocked" in capsys.readouterr().out
    assert await account_command(config_file, "status", ACCOUNT) == 0
    assert "lock:\tnot locked" in capsys.readouterr().out
    assert await account_command(config_file, "unlock", ACCOUNT) == 0
    assert "was not locked" in capsys.readouterr().out
    assert await account_command(config_file, "unlock", "12-34") != 0
    assert "account number is up to 32 digits" in capsys.readouterr().err
