"""Reads made a few at a time, each in a copy of the caller's context so that its spans stay in the run."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from shared.errors import RotationError

T = TypeVar("T")
R = TypeVar("R")
READ_WORKERS = 8  # concurrent reads (ARM allows 250 at once; Key Vault a few hundred per 10 s per vault)


def each(items: Sequence[T], read: Callable[[T], R]) -> list[R | RotationError]:
    """``read`` of every item, in order; a ``RotationError`` is returned in its place, never raised."""
    def attempt(item: T) -> R | RotationError:
        try:
            return read(item)
        except RotationError as exc:
            return exc

    if len(items) <= 1:
        return [attempt(i) for i in items]
    contexts = [contextvars.copy_context() for _ in items]  # one context cannot be entered twice at once
    with ThreadPoolExecutor(max_workers=min(READ_WORKERS, len(items))) as pool:
        return list(pool.map(lambda c, i: c.run(attempt, i), contexts, items))
