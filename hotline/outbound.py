"""The one policy for every leg the PBX places to the outside world (toll fraud is a call
someone else pays for): agents' desks the ACD rings, outside numbers an agent or a
supervisor transfers a caller to, the menu's ``outside:`` targets (a head office), and the
callback dialler. Pure: the composition root builds one from the configuration and hands
it to every feature (``hotline.services.OUTBOUND``); a refusal is a ``NumberRefused`` (403, a stable
reason) raised before anything is dialled, so no INVITE leaves the PBX.

- **Outside numbers** are dialled in the one form ``hotline.numbers`` writes them in (so
  ``+86 10 8888 6666``, ``0086...`` and ``8610...`` are all ``01088886666``), and only when
  they match one of ``outbound.allow`` and none of ``outbound.deny`` (dial patterns,
  ``hotline.dialpattern``). By default that is national numbers only: mobiles, fixed lines
  with their area code, 400/800 service numbers (``NATIONAL``). Refused: another country's
  number (``+44...``, ``0044...``: ``international``), premium and call-by-call ranges
  (``PREMIUM``: ``premium``), and anything else (short and service numbers such as 95588,
  96xxx, 110, 12345: ``not-allowed``; an admin who wants one adds it to ``outbound.allow``).
- **Who**: an outside transfer asked for over the API is allowed to the roles in
  ``outbound.roles`` (supervisors by default; ``acd.outside_transfer: true`` adds agents).
  What admins configured (the menu's targets) and what the hotline dials itself (a
  callback to the caller's own number) has no role and only meets the number rules.
- **How long**: every outside leg carries ``TIMEOUT(absolute)`` from its originate, so the
  PBX itself hangs it up after ``outbound.max_leg_seconds`` (ringing included), whether
  the controller is there or not.
- **Desks**: an agent is rung only at their own desk or one the ACD file lists for them
  (``desk``); a colleague's desk or an extension nobody has is refused.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hotline.dialpattern import compile_pattern, pattern_problem
from hotline.errors import HotlineError
from hotline.numbers import written

if TYPE_CHECKING:
    from hotline.config import Config

# Chinese national numbers, in hotline.numbers' national form. Local subscriber numbers
# never begin with 0 or 1 (N: 2-9); a 1 after an area code is a special service.
NATIONAL = (
    "1[3-9]XXXXXXXXX",  # mobiles: 11 digits
    "010NXXXXXXX",  # Beijing: area code 010, an 8-digit local number
    "02XNXXXXXXX",  # 020-029 (Guangzhou, Shanghai, Tianjin, Chongqing, ...), 8 digits
    "0[3-9]XXNXXXXXX",  # a four-digit area code (0311, 0755, ...), 7 digits
    "0[3-9]XXNXXXXXXX",  # a four-digit area code, 8 digits
    "400XXXXXXX",  # 400 service numbers (the caller pays a local rate)
    "800XXXXXXX",  # 800 freephone
)
# Ranges refused even when an allow pattern would let them through.
PREMIUM = (
    "16[08]X.",  # 160/168 voice-information lines (声讯台), billed by the minute
    "0[12]X16[08]X.",  # the same behind a three-digit area code (010, 02x)
    "0[3-9]XX16[08]X.",  # and behind a four-digit one
    "1259X.",  # 12590-12599: carriers' pay-per-minute voice services
    "179XX.",  # call-by-call long-distance carriers (17909, 17951, ...): they reach abroad
)
ROLES = ("agent", "supervisor")  # hotline.api.Role's values
TIMEOUT_VARIABLE = "TIMEOUT(absolute)"  # set on the leg as it is originated
_SHOWN = 32  # at most this much of what was asked for goes back in a refusal


def _dial_patterns(value: list[str]) -> str | None:
    return next(filter(None, map(pattern_problem, value)), None)


_PATTERNS = {"check": _dial_patterns}


def _at_least_five(value: int) -> str | None:
    return None if value >= 5 else "must be at least 5"


def _roles(value: list[str]) -> str | None:
    unknown = [role for role in value if role not in ROLES]
    return f"roles are {' and '.join(ROLES)}, not {', '.join(unknown)}" if unknown else None


@dataclass(frozen=True)
class OutboundConfig:
    """The ``outbound`` section of the configuration (hotline.config checks each value
    with its ``check``)."""

    allow: list[str] = field(
        default_factory=lambda: list(NATIONAL), metadata={"check": _dial_patterns}
    )
    deny: list[str] = field(
        default_factory=lambda: list(PREMIUM), metadata={"check": _dial_patterns}
    )
    # Who may transfer a caller to an outside number over the API (acd.outside_transfer
    # adds agents).
    roles: list[str] = field(default_factory=lambda: ["supervisor"], metadata={"check": _roles})
    # The PBX hangs up an outside leg this many seconds after dialling it.
    max_leg_seconds: int = field(default=1800, metadata={"check": _at_least_five})


class Refusal(enum.StrEnum):
    NOT_A_NUMBER = "not-a-number"
    INTERNATIONAL = "international"
    PREMIUM = "premium"
    NOT_ALLOWED = "not-allowed"
    ROLE = "role"
    COLLEAGUES_DESK = "colleagues-desk"
    NOT_A_DESK = "not-a-desk"


class NumberRefused(HotlineError):
    """A leg the policy does not place; nothing was dialled."""

    error_id = "number-refused"
    http_status = 403

    def __init__(self, refusal: Refusal, number: str, message: str) -> None:
        super().__init__(message, reason=refusal.value, number=number[:_SHOWN])
        self.refusal = refusal
        if refusal is Refusal.NOT_A_NUMBER:
            self.http_status = 400  # a malformed request, not a number refused


@dataclass(frozen=True)
class Verdict:
    """What the number rules say of a number: the form it is dialled in, or why not."""

    asked: str
    number: str  # in hotline.numbers' form; "" when it is not a number at all
    refusal: Refusal | None = None
    why: str = ""

    @property
    def allowed(self) -> bool:
        return self.refusal is None

    def error(self) -> NumberRefused:
        assert self.refusal is not None
        return NumberRefused(self.refusal, self.number or self.asked, self.why)


@dataclass(frozen=True)
class OutsideLeg:
    """How to originate an allowed outside number."""

    number: str
    endpoint: str
    variables: Mapping[str, str] = field(default_factory=dict)


class OutboundPolicy:
    def __init__(
        self,
        allow: Sequence[str] = NATIONAL,
        deny: Sequence[str] = PREMIUM,
        roles: Collection[str] = ("supervisor",),
        max_leg_seconds: int = 1800,
        dial: str = "PJSIP/{target}@carrier",
    ) -> None:
        self.allow = [(p, compile_pattern(p)) for p in allow]
        self.deny = [(p, compile_pattern(p)) for p in deny]
        self.roles = frozenset(roles)
        self.max_leg_seconds = max_leg_seconds
        self.dial = dial

    @classmethod
    def from_config(cls, config: Config) -> OutboundPolicy:
        roles = set(config.outbound.roles)
        if config.acd.outside_transfer:  # R-4.8's switch: agents may, too
            roles.add("agent")
        return cls(
            allow=config.outbound.allow,
            deny=config.outbound.deny,
            roles=roles,
            max_leg_seconds=config.outbound.max_leg_seconds,
            dial=config.pbx.outside_dial,
        )

    # --- outside numbers ----------------------------------------------------------------
    def verdict(self, asked: str) -> Verdict:
        """The number rules alone (no role): what the menu's checks and the API share."""
        number = written(asked)
        if number is None:
            shown = asked[:_SHOWN]
            return Verdict(asked, "", Refusal.NOT_A_NUMBER, f"{shown!r} is not a phone number")
        denied = _first_match(self.deny, number)
        if denied is not None:
            why = f"{number} is in a premium or call-by-call range (outbound.deny: {denied})"
            return Verdict(asked, number, Refusal.PREMIUM, why)
        if _first_match(self.allow, number) is not None:
            return Verdict(asked, number)
        if number.startswith("+"):
            why = f"{number} is an international number; outside calls are national only"
            return Verdict(asked, number, Refusal.INTERNATIONAL, why)
        why = f"{number} is not a number outside calls may go to (outbound.allow)"
        return Verdict(asked, number, Refusal.NOT_ALLOWED, why)

    def may_transfer(self, role: str) -> bool:
        return role in self.roles

    def check(self, asked: str, role: str | None = None) -> str:
        """The number to dial for ``asked`` (``role``: who asked over the API; None for
        what admins configured and what the hotline dials itself); NumberRefused if not."""
        if role is not None and not self.may_transfer(role):
            allowed = ", ".join(sorted(self.roles)) or "nobody"
            raise NumberRefused(
                Refusal.ROLE,
                asked,
                f"a {role} may not call outside numbers (outbound.roles: {allowed})",
            )
        verdict = self.verdict(asked)
        if not verdict.allowed:
            raise verdict.error()
        return verdict.number

    def leg(self, asked: str, role: str | None = None) -> OutsideLeg:
        """The originate of an allowed outside number, with its time limit on the PBX."""
        number = self.check(asked, role)
        return OutsideLeg(
            number,
            self.dial.format(target=number),
            {TIMEOUT_VARIABLE: str(self.max_leg_seconds)},
        )

    # --- desks --------------------------------------------------------------------------
    @staticmethod
    def desk(agent: str, extension: str, desks: Mapping[str, Collection[str]]) -> str:
        """The extension ``agent`` may be rung at: one of their own ``desks`` (agent ->
        the extensions the ACD file gives them)."""
        if not (extension.isascii() and extension.isdigit()):
            shown = extension[:_SHOWN]
            raise NumberRefused(Refusal.NOT_A_NUMBER, extension, f"{shown!r} is not an extension")
        if extension in desks.get(agent, ()):
            return extension
        if any(extension in theirs for other, theirs in desks.items() if other != agent):
            raise NumberRefused(
                Refusal.COLLEAGUES_DESK,
                extension,
                f"extension {extension} is a colleague's desk, not one of agent {agent}'s",
            )
        raise NumberRefused(
            Refusal.NOT_A_DESK,
            extension,
            f"extension {extension} is no desk of agent {agent}'s in the ACD file",
        )


def _first_match(patterns: Sequence[tuple[str, re.Pattern[str]]], number: str) -> str | None:
    return next((text for text, pattern in patterns if pattern.fullmatch(number)), None)
