"""What a call carries from phase to phase: the number dialled, the caller, the language
and priority, and what the caller entered in the menu. Stored on the call record."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CallContext:
    dialled: str
    caller: str
    language: str
    priority: int
    variables: dict[str, str] = field(default_factory=dict)  # what the menu collected
    keys: str = ""  # every key pressed, PINs as stars
    menu_stack: list[str] = field(default_factory=list)  # menu nodes to go back to (*)
    menu_version: str = ""  # the menu version the call started on, and finishes on
