"""One written form of a caller's number, so that every comparison (the blacklist, VIPs,
owners, pinned numbers, regions) and every stored record sees the same string.

Carriers and admins write one number many ways: ``13500135000``, ``+8613500135000``,
``008613500135000``, ``8613500135000``, ``"Bob" <sip:+8613500135000@carrier;user=phone>``.
``normalise`` turns each into the **national form** (``13500135000``):

- the user part of a SIP or tel URI is taken (display name, ``<>``, ``sip:``, ``@host``
  and ``;params`` dropped); then everything but digits and a leading ``+`` (spaces,
  dashes, dots, brackets, junk) goes. Full-width characters count as their ASCII ones.
- ``+86``, ``0086``, and a bare ``86`` followed by a complete Chinese number are dropped.
  A landline then gets the trunk prefix ``0`` it carries nationally
  (``+86 21 6123 4567`` → ``02161234567``); ``400``/``800`` numbers and mobiles do not
  (``+86 400 800 1234`` → ``4008001234``). A mobile written with a trunk ``0``, as some
  exchanges send out-of-town mobiles (``013500135000``), loses it.
- a number already national is kept as it is (``02161234567``, ``4008001234``, ``95588``),
  and so is a short one after ``+86`` (``+86 95588`` → ``95588``); what is left after
  ``+86`` that no national number starts with (``0``, ``86``) stays ``+86…``.
- other countries keep ``+`` and their digits (``+1 415 555 0100`` → ``+14155550100``,
  ``00441234567890`` → ``+441234567890``), so they never equal a national number.
- no digits at all (``anonymous``, ``unknown``, ``restricted``, ``private``, empty, a
  SIP URI with a name for a user) → ``anonymous``.
- at most ``MAX_DIGITS`` digits are kept (see there).

A prefix (a blacklisted range) goes through ``normalise_prefix``, the same rules for what
a prefix can show: ``+86 21`` → ``021``, ``+86 170`` → ``170``; a bare ``86`` stays, since
no prefix is known to be complete (``prefix_readings`` gives both meanings of one, for
matching). ``written`` is for numbers people type (the ACD file,
commands, agents): it refuses letters and URIs rather than picking digits out of them.

So the result is always ``anonymous``, digits, or ``+`` and digits: short ASCII, and
``normalise(normalise(x)) == normalise(x)``.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

ANONYMOUS = "anonymous"
# E.164 numbers have at most 15 digits; 20 leaves room for an international prefix and
# a carrier's routing digits, is what the ACD file accepts for a number, and "+" and 20
# digits fit the 32-character columns caller numbers are stored in. Longer is junk (or
# an attack): it must not bloat rows or logs.
MAX_DIGITS = 20
COUNTRY = "86"  # China's country code: the hotline's own

# A display name, quoted, with backslash escapes (RFC 3261); unterminated runs to the end.
_DISPLAY_NAME = re.compile(r'\s*"(?:[^"\\]|\\.)*"?', re.DOTALL)
_SCHEMES = ("sip:", "sips:", "tel:")
# National significant numbers, after the country code:
_MOBILE = re.compile(r"0?(1[3-9][0-9]{9})")  # 11 digits; a trunk 0 in front is dropped
_FREEPHONE = re.compile(r"[48]00[0-9]{7}")  # 400/800 numbers: no trunk prefix
_LANDLINE_NATIONAL = re.compile(r"0[1-9][0-9]{8,10}")  # the trunk 0 written already
_LANDLINE = re.compile(r"(?:10|2[0-9])[0-9]{8}|[3-9][0-9]{9,10}")  # area code + number
# What a person writes for a number (in the ACD file, a command, an agent's request):
# digits, a "+" in front, the usual separators; no letters, no URI.
_WRITTEN = re.compile(r"[\s(]*\+?[0-9\s().-]+")


def normalise(raw: str) -> str:
    """The canonical form of a caller id, as the carrier or an admin wrote it."""
    plus, digits = _digits(_user_part(raw))
    if not digits:
        return ANONYMOUS
    if plus or digits.startswith("00"):
        international = digits if plus else digits[2:]
        if not international:
            return ANONYMOUS
        if international.startswith(COUNTRY):
            rest = international[len(COUNTRY) :]
            national = _national(rest)
            if national is not None:
                return national
            if rest and rest[0] != "0" and not rest.startswith(COUNTRY):
                return rest  # a short number (95588, 10086): nationally just that
        return "+" + international
    if digits.startswith(COUNTRY):
        national = _national(digits[len(COUNTRY) :])
        if national is not None:
            return national
    mobile = _MOBILE.fullmatch(digits)
    return mobile.group(1) if mobile else digits


def normalise_prefix(raw: str) -> str:
    """A prefix of numbers in ``normalise``'s form (a blacklisted range, ``+1``), or ""
    if there is no number in it. A bare ``86`` stays: a prefix is never known complete."""
    plus, digits = _digits(_user_part(raw))
    if not (plus or digits.startswith("00")):
        return digits
    international = digits if plus else digits[2:]
    if not international.startswith(COUNTRY):
        return "+" + international if international else ""
    rest = international[len(COUNTRY) :]
    # Mobiles (1, but 10 is Beijing), 400/800 numbers and a written trunk 0 stay as
    # they are; an area code gets the trunk 0 it is written with nationally.
    mobile = rest.startswith("1") and not rest.startswith("10")
    freephone = "400".startswith(rest[:3]) or "800".startswith(rest[:3])
    if not rest or rest.startswith("0") or mobile or freephone:
        return rest
    return "0" + rest


def prefix_readings(raw: str) -> tuple[str, ...]:
    """The prefixes a written one may mean: ``normalise_prefix``'s and, for a bare ``86``,
    the country code's too (``86170`` is also ``170``: a caller who sends 8617012345678
    is normalised to 17012345678, while a local number 86123456 stays as it is)."""
    first = normalise_prefix(raw)
    second = normalise_prefix("+" + first) if first.startswith(COUNTRY) else ""
    return tuple(p for p in dict.fromkeys((first, second)) if p)


def written(text: str, prefix: bool = False) -> str | None:
    """A number (or a prefix) as a person writes one, normalised; None if it is not one:
    letters, no digit, or more than MAX_DIGITS digits (which ``normalise`` would cut)."""
    text = unicodedata.normalize("NFKC", text)
    digits = sum(ch.isdigit() for ch in text)
    if not _WRITTEN.fullmatch(text) or not 0 < digits <= MAX_DIGITS:
        return None
    number = normalise_prefix(text) if prefix else normalise(text)
    return number if number not in ("", ANONYMOUS) else None


def same_number(a: str, b: str) -> bool:
    """Whether two caller ids are one number (two anonymous callers are not)."""
    first = normalise(a)
    return first != ANONYMOUS and first == normalise(b)


def _user_part(raw: str) -> str:
    """``"Bob" <sip:+8613500135000@host;user=phone>`` -> ``+8613500135000``."""
    text = unicodedata.normalize("NFKC", raw)  # full-width ＋８６ from a keyboard
    display = _DISPLAY_NAME.match(text)
    if display is not None and text[display.end() :].strip():
        text = text[display.end() :]  # else the quoted name is all there is: "13500135000"
    if "<" in text:
        text = text.partition("<")[2].partition(">")[0]
    text = text.strip()
    if text[:5].lower().startswith(_SCHEMES):
        text = text.partition(":")[2]
    for end in "@;?":  # the host, URI parameters, headers
        text = text.partition(end)[0]
    return unquote(text)  # %2B is a "+"


def _digits(user: str) -> tuple[bool, str]:
    """Whether the number starts with "+", and its ASCII digits (at most MAX_DIGITS)."""
    first = next((ch for ch in user if ch == "+" or "0" <= ch <= "9"), "")
    digits = "".join(ch for ch in user if "0" <= ch <= "9")
    return first == "+", digits[:MAX_DIGITS]


def _national(rest: str) -> str | None:
    """The national form of what follows ``86``, if it is a complete Chinese number."""
    mobile = _MOBILE.fullmatch(rest)
    if mobile:
        return mobile.group(1)
    if _FREEPHONE.fullmatch(rest) or _LANDLINE_NATIONAL.fullmatch(rest):
        return rest
    if _LANDLINE.fullmatch(rest):
        return "0" + rest
    return None
