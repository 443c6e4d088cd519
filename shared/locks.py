"""Per-registry and per-key locks shared by every engine in the process.

Concurrent invocations in one worker (a delivery and a sweep, say) coalesce: the second waits,
re-reads, and finds the work done. Across instances, re-reading before writing and ARM's 409 on a
registry that is already updating bound the damage to a retry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._released: dict[str, float] = {}  # name -> time.monotonic() of the last release

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(name.lower(), threading.Lock())
        with lock:
            try:
                yield
            finally:
                with self._guard:
                    self._released[name.lower()] = time.monotonic()

    def released_since(self, name: str, since: float) -> bool:
        """Someone in this process held ``name`` and let go after ``since`` (a monotonic time)."""
        with self._guard:
            return self._released.get(name.lower(), float("-inf")) > since


PROCESS_LOCKS = KeyedLocks()
