"""Several instances on one rotation queue, as the Functions host runs them (emulator/queue_host.py processes on
Azurite), where ARM's write bucket binds: more than 200 updates in one subscription, throttling on. The same code
as ``make bench``'s fanout_queue, at a size ``make test`` can afford."""

from __future__ import annotations

import pytest
from azure.storage.blob import ContainerClient

from bench.fanout_queue import measure
from shared.adapters.bucket_store import CONTAINER

pytestmark = pytest.mark.standin
REGISTRIES = 220  # all in one subscription: 20 past the write bucket's burst of 200


def test_instances_share_arm_s_buckets_every_registry_converges_and_nothing_fails_for_throttling(
        az, azurite) -> None:
    az.world.settings.throttling = True
    figure = measure(az, azurite, REGISTRIES, subscriptions=1, instances=3, keys=2,
                     settings={"ROTATION_POLL_INTERVAL_SECONDS": "0.05"})
    assert figure["converged"] == figure["rotated"] == figure["invocations"] == REGISTRIES
    assert figure["failures"] == 0
    assert figure["patches"] == figure["patches_per_subscription"] == REGISTRIES  # one update each, one subscription
    # Three instances pacing alone would each spend the burst of 200: 20 PATCHes and more would meet 429.
    assert figure["throttled_429"] <= 0.01 * figure["arm_calls"], figure
    buckets = {b.name for b in ContainerClient.from_connection_string(azurite, CONTAINER).list_blobs()}
    assert {f"{az.subscription_ids[0].lower()}/writes.json", f"{az.subscription_ids[0].lower()}/reads.json"} <= buckets
