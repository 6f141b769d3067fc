"""Per-user fair use: at most N questions in any 60-second window.

In memory on purpose: a restart forgiving everyone is harmless, and it keeps every check O(1) amortised.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    def __init__(self, per_minute: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.window = window
        self._clock = clock
        self._hits: dict[int, deque[float]] = {}
        self._warned: set[int] = set()
        self._checks = 0

    def allow(self, user_id: int) -> bool:
        """Count one question for `user_id`; False when the user is over the limit."""
        now = self._clock()
        hits = self._hits.setdefault(user_id, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        self._checks += 1
        if self._checks % 1000 == 0:
            self._forget_idle(now)
        if len(hits) >= self.per_minute:
            return False
        hits.append(now)
        self._warned.discard(user_id)
        return True

    def should_warn(self, user_id: int) -> bool:
        """True once per burst, so a flooding user gets one friendly message rather than one per question."""
        if user_id in self._warned:
            return False
        self._warned.add(user_id)
        return True

    def _forget_idle(self, now: float) -> None:
        for uid in [u for u, h in self._hits.items() if not h or h[-1] <= now - self.window]:
            del self._hits[uid]
