"""Per-registry and per-key locks shared by every engine in the process.

Concurrent invocations in one worker (a delivery and a sweep, say) coalesce: the second waits,
re-reads, and finds the work done. Across instances, re-reading before writing and ARM's 409 on a
registry that is already updating bound the damage to a retry.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(name.lower(), threading.Lock())
        with lock:
            yield


PROCESS_LOCKS = KeyedLocks()
