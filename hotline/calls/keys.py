"""A bound on the keys (DTMF) one call takes in: a flood is dropped where it arrives.

A person presses a few keys a second and a few dozen in a whole call; a machine on the
line (or a broken phone) can send thousands. Keys beyond ``per_second`` within any one
second, or beyond ``per_call`` in the whole call, are dropped before they are queued for
the call, so a flood cannot grow the call's event queue or its typeahead, nor keep the
call's task busy: what it admits is at most ``per_call`` keys, whatever arrives.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

KEYS_PER_SECOND = 20  # nobody presses faster; the tester's phones send 5 a second
KEYS_PER_CALL = 200  # a long menu journey with retries stays well below


class KeyGate:
    def __init__(
        self,
        per_second: int = KEYS_PER_SECOND,
        per_call: int = KEYS_PER_CALL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._recent: deque[float] = deque(maxlen=per_second)  # when the last keys came
        self._per_call = per_call
        self._clock = clock
        self.admitted = 0
        self.dropped = 0

    def admit(self) -> bool:
        """Whether a key arriving now is let through (else it is dropped and counted)."""
        now = self._clock()
        too_fast = len(self._recent) == self._recent.maxlen and now - self._recent[0] < 1.0
        if too_fast or self.admitted >= self._per_call:
            self.dropped += 1
            return False
        self._recent.append(now)
        self.admitted += 1
        return True
