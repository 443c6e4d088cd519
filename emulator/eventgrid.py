"""Event Grid: Key Vault system events, the outbox tests read, and webhook delivery.

Events use the Event Grid schema with the data shape every published Key Vault sample shows
(PascalCase ``Id, VaultName, ObjectType, ObjectName, Version, NBF, EXP``; NBF/EXP as strings).
Delivery copies Event Grid's contract, not its timing: after the write returns, at least once
(a failed POST is retried, so duplicates happen), with the Functions local webhook protocol.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
import weakref
from datetime import UTC, datetime
from typing import Any

from emulator import kv_model as m
from emulator.world import Key, KeyVersion, Vault, World

NEAR_EXPIRY = "Microsoft.KeyVault.KeyNearExpiry"
EXPIRED = "Microsoft.KeyVault.KeyExpired"
ATTEMPTS = 4  # first try plus three retries
BACKOFF_S = 0.05  # doubled after each failed attempt
TIMEOUT_S = 10.0


def _event_time(epoch: float) -> str:
    # Event Grid writes seven fractional digits: 2019-07-25T01:08:33.1036736Z
    dt = datetime.fromtimestamp(epoch, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"


def build_event(world: World, event_type: str, vault: Vault, key: Key, version: KeyVersion) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "topic": vault.resource_id,
        "subject": key.name,
        "eventType": event_type,
        "eventTime": _event_time(world.now()),
        "data": {
            "Id": m.key_url(vault.host, key.name, version.version),
            "VaultName": vault.name,
            "ObjectType": "Key",
            "ObjectName": key.name,
            "Version": version.version,
            "NBF": None if version.nbf is None else str(version.nbf),
            "EXP": None if version.exp is None else str(version.exp),
        },
        "dataVersion": "1",
        "metadataVersion": "1",
    }


def publish(world: World, event_type: str, vault: Vault, key: Key, version: KeyVersion) -> dict[str, Any]:
    """Record an event in the outbox and hand it to every listener (webhook delivery among them)."""
    event = build_event(world, event_type, vault, key, version)
    with world.lock:
        world.events.append(event)
        listeners = list(world.event_listeners)
    for listener in listeners:
        listener(event)
    return event


class _Deliverer:
    """One background thread per world that POSTs queued events to the subscribed webhooks."""

    def __init__(self, world: World) -> None:
        self.world = world
        # (event, url, the event subscription it is delivered for, or None for subscribe_webhook's URLs)
        self.queue: queue.Queue[tuple[dict[str, Any], str, dict[str, Any] | None] | None] = queue.Queue()
        self.pending = 0
        self.idle = threading.Condition()
        # Never through the stand-in's HTTPS proxy: the webhook is a plain-HTTP local endpoint.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.thread = threading.Thread(target=self._run, name="eventgrid-delivery", daemon=True)
        self.thread.start()

    def on_event(self, event: dict[str, Any]) -> None:
        with self.world.lock:
            jobs: list[tuple[dict[str, Any], str, dict[str, Any] | None]] = [
                (event, url, None) for url in self.world.webhooks]
            jobs += [(event, url, sub) for url, sub in routes(self.world, event)]
        for job in jobs:
            with self.idle:
                self.pending += 1
            self.queue.put(job)

    def _run(self) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                return
            try:
                self._deliver(*job)
            finally:
                with self.idle:
                    self.pending -= 1
                    self.idle.notify_all()

    def _post(self, event: dict[str, Any], url: str) -> int | str:
        if not url:
            return 404  # the destination function is gone: Event Grid sees NotFound
        req = urllib.request.Request(url, data=json.dumps([event]).encode(), method="POST", headers={
            "Content-Type": "application/json", "aeg-event-type": "Notification"})
        try:
            with self.opener.open(req, timeout=TIMEOUT_S) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except OSError as e:  # refused, reset, timeout
            return f"error: {e.__class__.__name__}"

    def _deliver(self, event: dict[str, Any], url: str, subscription: dict[str, Any] | None) -> None:
        attempts = ATTEMPTS
        if subscription is not None:
            configured = (subscription["properties"].get("retryPolicy") or {}).get("maxDeliveryAttempts")
            attempts = max(1, min(ATTEMPTS, int(configured or ATTEMPTS)))
        status: int | str = 0
        for attempt in range(1, attempts + 1):
            status = self._post(event, url)
            with self.world.lock:
                self.world.deliveries.append({"event_id": event["id"], "event_type": event["eventType"],
                                              "url": url, "status": status, "attempt": attempt,
                                              "subscription": subscription["id"] if subscription else None})
            if isinstance(status, int) and 200 <= status < 300:
                return
            if isinstance(status, int) and status in (400, 413):
                break  # a status Event Grid does not retry
            if attempt < attempts:
                time.sleep(BACKOFF_S * 2 ** (attempt - 1))
        if subscription is not None:
            dead_letter(self.world, event, subscription, status, attempts)

    def wait_idle(self, timeout: float) -> bool:
        with self.idle:
            return self.idle.wait_for(lambda: self.pending == 0, timeout)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=5)


def _subject_matches(flt: dict[str, Any], subject: str) -> bool:
    fold = (lambda x: x) if flt.get("isSubjectCaseSensitive") else str.lower
    return (fold(subject).startswith(fold(flt.get("subjectBeginsWith") or ""))
            and fold(subject).endswith(fold(flt.get("subjectEndsWith") or "")))


def routes(world: World, event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(URL, event subscription) for each subscription on the system topic of the event's vault whose filter
    takes it. An AzureFunction destination goes to the URL registered for that function ("" when the function
    is gone). Call under world.lock."""
    topics = [t["id"].lower() for t in world.system_topics.values()
              if t["properties"]["source"].lower() == str(event.get("topic", "")).lower()]
    out: list[tuple[str, dict[str, Any]]] = []
    for sub in world.event_subscriptions.values():
        props = sub["properties"]
        if props["topic"].lower() not in topics:
            continue
        flt = props.get("filter") or {}
        included = flt.get("includedEventTypes")
        if included is not None and event["eventType"].lower() not in {t.lower() for t in included}:
            continue
        if not _subject_matches(flt, str(event.get("subject", ""))):
            continue
        dest = props.get("destination") or {}
        dp = dest.get("properties") or {}
        if dest.get("endpointType") == "WebHook":
            out.append((str(dp.get("endpointUrl", "")), sub))
        elif dest.get("endpointType") == "AzureFunction":
            out.append((world.function_endpoints.get(str(dp.get("resourceId", "")).lower(), ""), sub))
    return out


def dead_letter(world: World, event: dict[str, Any], subscription: dict[str, Any], status: int | str,
                attempts: int) -> None:
    """Record an undeliverable event as Event Grid writes it to the dead-letter container (the schema of
    misconfig eventgrid/docs-example.deadletter.eventgrid-schema.json), when the subscription has one."""
    dest = subscription["properties"].get("deadLetterDestination") or (
        subscription["properties"].get("deadLetterWithResourceIdentity") or {}).get("deadLetterDestination")
    if not dest:
        return
    outcomes = {404: "NotFound", 401: "Unauthorized", 403: "Forbidden", 400: "BadRequest", 413: "BadRequest"}
    outcome = outcomes.get(status, "GenericError") if isinstance(status, int) else "TimedOut"
    now = _event_time(world.now())
    with world.lock:
        world.dead_letters.append({
            **event, "deadLetterReason": "MaxDeliveryAttemptsExceeded", "deliveryAttempts": attempts,
            "lastDeliveryOutcome": outcome, "publishTime": event["eventTime"], "lastDeliveryAttemptTime": now,
            "_subscription": subscription["id"], "_container": (dest.get("properties") or {}).get("blobContainerName")})


# World has no slot for the deliverer; keep one per world here, gone with the world.
_deliverers: weakref.WeakKeyDictionary[World, _Deliverer] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def _deliverer(world: World) -> _Deliverer:
    with _guard:
        d = _deliverers.get(world)
        if d is None:
            d = _deliverers[world] = _Deliverer(world)
            with world.lock:
                world.event_listeners.append(d.on_event)
        return d


def ensure_delivery(world: World) -> None:
    """Start delivering along the configured event subscriptions (done when one is created)."""
    _deliverer(world)


def subscribe(world: World, url: str) -> None:
    """Deliver every event published from now on to ``url`` too (Event Grid sends only new events)."""
    _deliverer(world)
    with world.lock:
        if url not in world.webhooks:
            world.webhooks.append(url)


def tick(world: World) -> list[dict[str, Any]]:
    """Publish the due KeyNearExpiry and KeyExpired events for each key's current version, once each.

    Near-expiry fires for disabled versions too (the payload has no enabled flag). A clock moved
    past EXP in one step yields both events, in the order Key Vault would have sent them."""
    out: list[dict[str, Any]] = []
    now = world.now()
    with world.lock:
        due: list[tuple[str, Vault, Key, KeyVersion]] = []
        for (host, _), key in world.keys.items():
            vault = world.vaults.get(host)
            if key.deleted or not key.versions or vault is None or m.is_managed_hsm(host):
                continue
            v = key.current
            if v.exp is None:
                continue
            key_id = m.key_url(host, key.name).lower()
            for kind, at in ((NEAR_EXPIRY, v.exp - m.notify_before_expiry_s(key)), (EXPIRED, v.exp)):
                mark = (kind, key_id, v.version)
                if now >= at and mark not in world.published_expiry:
                    world.published_expiry.add(mark)
                    due.append((kind, vault, key, v))
    for kind, vault, key, v in due:
        out.append(publish(world, kind, vault, key, v))
    return out


def wait_idle(world: World, timeout: float = 10.0) -> bool:
    """Block until every queued delivery (retries included) is finished; False on timeout."""
    d = _deliverers.get(world)
    return True if d is None else d.wait_idle(timeout)


def close(world: World) -> None:
    with _guard:
        d = _deliverers.pop(world, None)
    if d is not None:
        with world.lock:
            if d.on_event in world.event_listeners:
                world.event_listeners.remove(d.on_event)
        d.close()
