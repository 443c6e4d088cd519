"""ARM pacing shared by every instance (arm_pacing.SharedBuckets) on an in-memory store with versions, as a
blob with ETags behaves; an injected clock (sleeping moves it), never the wall clock."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ServiceRequestError

from shared.adapters.arm_pacing import (
    ARM_LIMITS,
    WRITES,
    BucketLimits,
    BucketState,
    SharedBuckets,
    TokenBuckets,
    share_of,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class MemoryStore:
    """Conditional writes on a version number, like a blob's ETag; can be made unreachable or raced."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[BucketState, int]] = {}
        self.unreachable = False
        self.lose_next_writes = 0  # another instance wins the next conditional writes
        self.writes = 0
        self.reads = 0

    def read(self, name: str) -> tuple[BucketState | None, str | None]:
        self.reads += 1
        if self.unreachable:
            raise ServiceRequestError("storage unreachable")
        if name not in self.items:
            return None, None
        state, version = self.items[name]
        return state, str(version)

    def write(self, name: str, state: BucketState, version: str | None) -> str | None:
        if self.unreachable:
            raise ServiceRequestError("storage unreachable")
        current = self.items.get(name)
        if self.lose_next_writes:
            self.lose_next_writes -= 1
            self.items[name] = (current[0] if current else state, (current[1] if current else 0) + 1)
            return None
        if (current is None) != (version is None) or (current is not None and str(current[1]) != version):
            return None
        self.writes += 1
        self.items[name] = (state, (current[1] if current else 0) + 1)
        return str(self.items[name][1])


LIMITS = {WRITES: BucketLimits(20, 10.0)}


def instances(store: MemoryStore, clock: Clock, count: int, cap: int | None = None) -> list[SharedBuckets]:
    """``count`` instances of an app whose instance cap is ``cap`` (default: ``count``)."""
    share = share_of(LIMITS, cap or count)
    return [SharedBuckets(store, TokenBuckets(share, clock, clock.sleep), LIMITS, clock, clock.sleep)
            for _ in range(count)]


def test_any_number_of_instances_together_take_no_more_than_one_bucket_allows() -> None:
    clock, store = Clock(), MemoryStore()
    fleet = instances(store, clock, 40)
    start = clock.now
    taken = 0
    for round_ in range(10):
        for instance in fleet:  # every instance wants a token, over and over
            instance.take("sub", WRITES)
            taken += 1
            allowed = LIMITS[WRITES].burst + (clock.now - start) * LIMITS[WRITES].per_second
            assert taken <= allowed + 1e-9, f"round {round_}: {taken} tokens by t+{clock.now - start:.2f}s"
    # ...and the bucket is used, not wasted: 400 tokens need (400 - 20) / 10 s of refill, and no more.
    assert clock.now - start == pytest.approx((400 - 20) / 10)


def test_a_lost_race_reads_again_and_reserves_from_what_is_there() -> None:
    clock, store = Clock(), MemoryStore()
    [instance] = instances(store, clock, 1)
    instance.take("sub", WRITES)
    store.lose_next_writes = 2  # two other instances write first: the state this process wrote is stale
    reads = store.reads
    assert instance.take("sub", WRITES) == 0.0
    assert store.reads == reads + 2
    state, _ = store.read("sub/writes.json")
    assert state is not None and state.tokens == pytest.approx(LIMITS[WRITES].burst - 2)


def test_when_this_process_wrote_last_a_reservation_is_one_write_and_no_read() -> None:
    clock, store = Clock(), MemoryStore()
    [instance] = instances(store, clock, 1)
    for _ in range(3):
        instance.take("sub", WRITES)
    assert (store.reads, store.writes) == (1, 3)


def test_waiting_for_an_empty_bucket_is_one_reservation_not_polling() -> None:
    clock, store = Clock(), MemoryStore()
    [instance] = instances(store, clock, 1)
    for _ in range(LIMITS[WRITES].burst):
        instance.take("sub", WRITES)  # the burst
    writes = store.writes
    assert instance.take("sub", WRITES) == pytest.approx(0.1)  # reserved below zero, then slept to its turn
    assert store.writes == writes + 1


def test_a_429_empties_the_shared_bucket_for_every_instance() -> None:
    clock, store = Clock(), MemoryStore()
    first, second = instances(store, clock, 2)
    first.take("sub", WRITES)
    first.drain("sub", WRITES)  # ARM said 429 to the first: the second must wait for a refill too
    before = clock.now
    second.take("sub", WRITES)
    assert clock.now - before >= 1 / LIMITS[WRITES].per_second


def test_without_storage_each_instance_paces_to_its_share_of_the_cap() -> None:
    clock, store = Clock(), MemoryStore()
    store.unreachable = True
    [instance] = instances(store, clock, 1, cap=40)  # the cap: 40 instances, each with 1/40 of the bucket
    start = clock.now
    for _ in range(3):
        instance.take("sub", WRITES)
    # A burst of max(1, 20/40) = 1, then 10/40 = 0.25 tokens a second: 2 more tokens take 8 s.
    assert clock.now - start == pytest.approx(8.0)
    reads = store.reads
    instance.take("sub", WRITES)  # within FALLBACK_FOR_S of the failure: storage is not tried again
    assert store.reads == reads
    assert share_of(ARM_LIMITS, 1000)[WRITES] == BucketLimits(1.0, 0.01)


def test_one_storage_round_trip_reserves_for_every_waiting_thread_and_unused_ones_expire() -> None:
    clock, store = Clock(), MemoryStore()
    [instance] = instances(store, clock, 1)
    instance._waiting[("sub", WRITES)] = 4  # four more threads wait behind this one
    instance.take("sub", WRITES)
    state, _ = store.read("sub/writes.json")
    assert state is not None and state.tokens == pytest.approx(LIMITS[WRITES].burst - 5)  # one write, 5 tokens
    clock.now += 1.0  # past STASH_TTL_S: the 4 unspent ones are not spent on a bucket refilled meanwhile
    writes = store.writes
    instance._waiting[("sub", WRITES)] = 0
    instance.take("sub", WRITES)
    assert store.writes == writes + 1


def test_with_the_queue_on_and_no_blob_endpoint_the_error_names_the_missing_setting() -> None:
    from shared.composition import build_engine
    from shared.errors import ConfigurationError

    env = {"ROTATION_QUEUE_NAME": "acr-rotations",
           "AzureWebJobsStorage__queueServiceUri": "https://stapp.queue.core.windows.net"}
    with pytest.raises(ConfigurationError, match="AzureWebJobsStorage__blobServiceUri"):
        build_engine(env, credential=object())
