"""Client-side pacing of ARM requests: a token bucket per subscription and kind (reads, writes), as ARM keeps.

ARM throttles each principal per subscription with token buckets (reads 250 burst refilled at 25/s,
writes 200 at 10/s). Without pacing, a wide fan-out empties the write bucket in one burst and every
further PATCH bounces off 429 until azure-core's RetryPolicy gives up. This policy sits after the
RetryPolicy (so every attempt takes a token) and waits for a token before sending. A 429 (another
instance on the same principal spent the tokens) empties our bucket too, and RetryPolicy retries
it, honouring Retry-After. The ``x-ms-ratelimit-remaining-*`` headers are not followed: they arrive
after the refill they describe, and lowering the bucket to them on every answer halved throughput.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy

READS, WRITES = "reads", "writes"


@dataclass(frozen=True)
class BucketLimits:
    burst: float
    per_second: float


# Documented ARM limits (request-limits-and-throttling): per subscription and principal.
ARM_LIMITS = {READS: BucketLimits(250, 25.0), WRITES: BucketLimits(200, 10.0)}


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
    def __init__(self, buckets: TokenBuckets) -> None:
        super().__init__()
        self.buckets = buckets

    def send(self, request: PipelineRequest) -> PipelineResponse:
        subscription, kind = bucket_of(request.http_request.method, request.http_request.url)
        self.buckets.take(subscription, kind)
        response: PipelineResponse = self.next.send(request)
        if response.http_response.status_code == 429:
            self.buckets.drain(subscription, kind)
        return response
