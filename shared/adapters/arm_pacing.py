"""Client-side pacing of ARM requests: a token bucket per subscription and kind (reads, writes), as ARM keeps.

ARM throttles each principal per subscription with token buckets (reads 250 burst refilled at 25/s,
writes 200 at 10/s). Without pacing, a wide fan-out empties the write bucket in one burst and every
further PATCH bounces off 429 until azure-core's RetryPolicy gives up. This policy sits after the
RetryPolicy (so every attempt takes a token) and waits for a token before sending. A 429 (another
instance on the same principal spent the tokens) empties our bucket too, and RetryPolicy retries
it, honouring Retry-After. The ``x-ms-ratelimit-remaining-*`` headers are not followed: they arrive
after the refill they describe, and lowering the bucket to them on every answer halved throughput.

Scale-out (``SharedBuckets``): every instance of the app is the same principal, so every instance draws on
the same ARM buckets. Pacing alone per process lets N instances spend N times the bucket; pacing each to a
fixed share (1/maximumInstanceCount) is safe but slow whenever fewer instances run; following the headers
is late (above). So the instances keep ONE bucket per subscription and kind in the app's own storage, and
take tokens from it with optimistic concurrency (read the state and its ETag; write it back only if the
ETag still matches, else read again). Why that is sound, for any number of instances:

- Tokens never exceed what ARM grants: each write is conditional, so the stored state is linearizable and
  the tokens handed out by time t are at most burst + rate x t, whoever asked.
- A crash loses nothing but tokens already taken (under-use, never over-use).
- A take reserves its token even when the bucket is empty (the count goes below zero) and sleeps until
  the refill covers it, so waiting costs no storage calls. A process reserves for all its threads waiting
  on the bucket at once (up to ``MAX_CLAIM``), and drops a reservation not used within ``STASH_TTL_S`` of
  its time (tokens held back and spent later could stack on a bucket refilled meanwhile).
- Instances' clocks differ by milliseconds (NTP); a refill never runs backwards (``at`` only increases).
- When storage cannot be reached, a process paces to its share of the bucket (1 / the app's instance cap),
  which no number of instances up to the cap can overrun.
- Storage is not a bottleneck: one conditional write per reservation when this process wrote last, a read
  and a write when another did; at most ARM's own 35 tokens a second per
  subscription, far inside one blob's and one account's scalability targets.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy

log = logging.getLogger(__name__)

READS, WRITES = "reads", "writes"


@dataclass(frozen=True)
class BucketLimits:
    burst: float
    per_second: float


# Documented ARM limits (request-limits-and-throttling): per subscription and principal.
ARM_LIMITS = {READS: BucketLimits(250, 25.0), WRITES: BucketLimits(200, 10.0)}


def share_of(limits: dict[str, BucketLimits], instances: int) -> dict[str, BucketLimits]:
    """Each instance's part of the buckets when ``instances`` of them may run at once."""
    return {kind: BucketLimits(max(1.0, limit.burst / instances), limit.per_second / instances)
            for kind, limit in limits.items()}


class Buckets(Protocol):
    def take(self, subscription: str, kind: str) -> float: ...

    def drain(self, subscription: str, kind: str) -> None: ...


class TokenBuckets:
    """Thread-safe token buckets keyed by (subscription, kind); ``take`` blocks until a token is free."""

    def __init__(self, limits: dict[str, BucketLimits] | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self._limits = limits or ARM_LIMITS
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], list[float]] = {}  # -> [tokens, last refill]

    def _refill(self, key: tuple[str, str]) -> list[float]:
        limit = self._limits[key[1]]
        now = self._clock()
        bucket = self._buckets.setdefault(key, [limit.burst, now])
        bucket[0] = min(limit.burst, bucket[0] + (now - bucket[1]) * limit.per_second)
        bucket[1] = now
        return bucket

    def take(self, subscription: str, kind: str) -> float:
        """Take one token, waiting as long as needed; returns the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                bucket = self._refill((subscription, kind))
                if bucket[0] >= 1.0:
                    bucket[0] -= 1.0
                    return waited
                delay = (1.0 - bucket[0]) / self._limits[kind].per_second
            self._sleep(delay)
            waited += delay

    def drain(self, subscription: str, kind: str) -> None:
        """After a 429: the bucket is empty whatever we thought."""
        with self._lock:
            bucket = self._refill((subscription, kind))
            bucket[0] = min(bucket[0], 0.0)


def bucket_of(method: str, url: str) -> tuple[str, str]:
    """(subscription or '' for tenant-level calls, kind) of an ARM request."""
    parts = urlsplit(url).path.split("/")
    subscription = parts[2].lower() if len(parts) > 2 and parts[1].lower() == "subscriptions" else ""
    kind = READS if method.upper() in ("GET", "HEAD", "OPTIONS") else WRITES
    return subscription, kind


class ArmPacingPolicy(HTTPPolicy):
    def __init__(self, buckets: Buckets) -> None:
        super().__init__()
        self.buckets = buckets

    def send(self, request: PipelineRequest) -> PipelineResponse:
        subscription, kind = bucket_of(request.http_request.method, request.http_request.url)
        self.buckets.take(subscription, kind)
        response: PipelineResponse = self.next.send(request)
        if response.http_response.status_code == 429:
            self.buckets.drain(subscription, kind)
        return response


# --- One budget for every instance -----------------------------------------------------------------

@dataclass(frozen=True)
class BucketState:
    tokens: float
    at: float  # wall-clock seconds of the last refill


class BucketStore(Protocol):
    """Where the shared buckets live (adapters/bucket_store.py: a blob each in the app's storage)."""

    def read(self, name: str) -> tuple[BucketState | None, str | None]:
        """The state and its version (ETag); (None, None) when there is none yet."""

    def write(self, name: str, state: BucketState, version: str | None) -> str | None:
        """Store ``state`` if the stored version is still ``version`` (None: if there is none): its new version,
        or None when another writer came first."""


MAX_CLAIM = 8  # tokens one storage round trip may reserve, for the threads of this process waiting on it
STASH_TTL_S = 0.5  # a slot not used this long after its time is dropped: it could stack on a refilled bucket
FALLBACK_FOR_S = 30.0  # after storage failed, how long every take paces on its share before trying storage again


class SharedBuckets:
    """ARM's buckets kept once for every instance, in storage; see the module's docstring for why.

    A take reserves its token, even from an empty bucket (the stored count goes below zero: a queue of
    reservations), and then sleeps until the refill covers it: one conditional write per reservation and
    no polling, however many instances wait (the generic cell rate algorithm, in tokens)."""

    def __init__(self, store: BucketStore, fallback: TokenBuckets, limits: dict[str, BucketLimits] | None = None,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self._store, self._fallback = store, fallback
        self._limits = limits or ARM_LIMITS
        self._clock, self._sleep = clock, sleep
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._slots: dict[tuple[str, str], list[float]] = {}  # reserved and not yet used: when each may go
        self._known: dict[tuple[str, str], tuple[BucketState, str]] = {}  # as this process last wrote it
        self._waiting: dict[tuple[str, str], int] = {}
        self._storage_back_at = 0.0  # while the clock is before this, storage failed recently: use the share

    def take(self, subscription: str, kind: str) -> float:
        key = (subscription, kind)
        if self._clock() < self._storage_back_at:
            return self._fallback.take(subscription, kind)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
            self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            with lock:  # one thread per bucket talks to storage, for every thread waiting on it
                slot = self._next_slot(key)
                if slot is None:
                    with self._guard:
                        want = max(1, min(MAX_CLAIM, self._waiting[key]))
                    slots = self._reserve(key, want)
                    slot = slots[0]
                    with self._guard:
                        self._slots[key] = slots[1:]
        except AzureError as exc:
            self._fell_back(exc)
            return self._fallback.take(subscription, kind)
        finally:
            with self._guard:
                self._waiting[key] -= 1
        delay = max(0.0, slot - self._clock())
        if delay:
            self._sleep(delay)
        return delay

    def drain(self, subscription: str, kind: str) -> None:
        """After a 429: nobody's tokens were there; reservations already made keep their turn."""
        key = (subscription, kind)
        with self._guard:
            self._slots.pop(key, None)
            self._known.pop(key, None)
        try:
            for _ in range(5):
                state, version = self._store.read(_name(key))
                if state is not None and state.tokens <= 0:
                    return
                now = self._clock()
                if self._store.write(_name(key), BucketState(0.0, max(now, state.at if state else now)), version):
                    return
        except AzureError as exc:
            self._fell_back(exc)
            self._fallback.drain(subscription, kind)

    def _next_slot(self, key: tuple[str, str]) -> float | None:
        with self._guard:
            slots = self._slots.get(key) or []
            now = self._clock()
            while slots and slots[0] < now - STASH_TTL_S:
                slots.pop(0)
            return slots.pop(0) if slots else None

    def _reserve(self, key: tuple[str, str], want: int) -> list[float]:
        """Reserve ``want`` tokens; returns when each may be spent (now, or when the refill covers it). Starts
        from the state this process last wrote, if any: when nobody wrote since, that saves the read."""
        limit = self._limits[key[1]]
        state, version = self._known.get(key) or self._store.read(_name(key))
        while True:
            now = self._clock()
            if state is None:
                state = BucketState(limit.burst, now)
            at = max(now, state.at)
            tokens = min(limit.burst, state.tokens + (at - state.at) * limit.per_second)  # below 0: reserved
            reserved = BucketState(tokens - want, at)
            written = self._store.write(_name(key), reserved, version)
            if written is not None:
                self._known[key] = (reserved, written)
                return [at + max(0.0, (j + 1 - tokens) / limit.per_second) for j in range(want)]
            state, version = self._store.read(_name(key))  # another instance wrote first

    def _fell_back(self, exc: AzureError) -> None:
        """Storage failed: pace on this instance's share for a while, without paying a failing call per take."""
        with self._guard:
            if self._clock() < self._storage_back_at:
                return
            self._storage_back_at = self._clock() + FALLBACK_FOR_S
            self._known.clear()
        log.warning("shared ARM budget unreachable (%s): pacing this instance to its share of ARM's buckets for "
                    "%.0f s", type(exc).__name__, FALLBACK_FOR_S)


def _name(key: tuple[str, str]) -> str:
    return f"{key[0] or 'tenant'}/{key[1]}.json"
