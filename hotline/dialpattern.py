"""Number patterns as PBX admins write them (Asterisk's extension patterns), for the
ranges the outbound policy allows and refuses: ``1[3-9]XXXXXXXXX`` is a mobile number.

- ``X`` is any digit, ``Z`` 1-9, ``N`` 2-9, ``[1-5]`` or ``[135]`` one digit of a set;
  a digit stands for itself, and so does a ``+`` in front (another country's number in
  ``hotline.numbers``' form, ``+852...``);
- ``.`` is one or more digits more, ``!`` zero or more (only at the end);
- the ``_`` that marks a pattern in a dialplan may be written or left out.

A pattern matches a whole number, never a part of one.
"""

from __future__ import annotations

import re

_DIGIT_CLASSES = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]"}
_TAILS = {".": "[0-9]+", "!": "[0-9]*"}
_SET = re.compile(r"\[((?:[0-9](?:-[0-9])?)+)\]")


def compile_pattern(text: str) -> re.Pattern[str]:
    """The pattern as a regular expression; ValueError says what is wrong with it."""
    body = text.strip().removeprefix("_")
    if not body:
        raise ValueError("an empty pattern")
    parts: list[str] = []
    at = 0
    if body.startswith("+"):
        parts.append(r"\+")
        at = 1
    while at < len(body):
        char = body[at]
        if char.isascii() and char.isdigit():
            parts.append(char)
        elif char.upper() in _DIGIT_CLASSES:
            parts.append(_DIGIT_CLASSES[char.upper()])
        elif char == "[":
            found = _SET.match(body, at)
            if found is None:
                raise ValueError(f"{body!r}: a set is digits and ranges like [1-5] or [135]")
            for low, high in re.findall(r"([0-9])-([0-9])", found.group(1)):
                if low > high:
                    raise ValueError(f"{body!r}: the range {low}-{high} runs backwards")
            parts.append(found.group(0))
            at = found.end()
            continue
        elif char in _TAILS:
            if at != len(body) - 1:
                raise ValueError(f"{body!r}: '{char}' may only end a pattern")
            parts.append(_TAILS[char])
        else:
            raise ValueError(
                f"{body!r}: {char!r} is not a pattern character (digits, X, Z, N, [..], . or !)"
            )
        at += 1
    return re.compile("".join(parts))


def pattern_problem(text: str) -> str | None:
    """What is wrong with a pattern, or None."""
    try:
        compile_pattern(text)
    except ValueError as exc:
        return str(exc)
    return None
