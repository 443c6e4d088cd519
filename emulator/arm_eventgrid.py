"""ARM: Microsoft.EventGrid/systemTopics and their eventSubscriptions (api-version 2025-02-15, the default of
azure-mgmt-eventgrid 10.4.0), as the spec examples in shared/azure-wire/misconfig/eventgrid show them.

Writes complete at once (a 200/201 whose body says ``provisioningState: Succeeded``: azure-mgmt-eventgrid's
poller stops there). eventgrid.py delivers Key Vault events along these subscriptions.
Assumptions, where no source showed the service's behaviour:
- a WebHook destination is not sent a validation handshake, and its GET shows only ``endpointBaseUrl``
  (``endpointUrl`` is write-only: ``getFullUrl`` returns it);
- an AzureFunction destination must name a function the stand-in knows (``AzureStandIn.add_function``), as
  creating one for a missing function fails (Azure/bicep#11656); the error's code and text are the stand-in's;
- a subscription stays ``Succeeded`` after its function is deleted (README: UNCONFIRMED); deliveries then fail.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any
from urllib.parse import urlsplit

from emulator import eventgrid
from emulator.arm_common import error, json_body, require_action, resource_not_found
from emulator.world import Request, Response, World

TOPIC_TYPE = "Microsoft.EventGrid/systemTopics"
SUB_TYPE = "Microsoft.EventGrid/systemTopics/eventSubscriptions"
RETRY_DEFAULT = {"maxDeliveryAttempts": 30, "eventTimeToLiveInMinutes": 1440}


def _topic_id(sub: str, rg: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{TOPIC_TYPE}/{name}"


def system_topic(world: World, req: Request, sub: str, rg: str, name: str) -> Response:
    rid = _topic_id(sub, rg, name)
    existing = world.system_topics.get(rid.lower())
    if req.method == "GET":
        denied = require_action(world, req, f"{TOPIC_TYPE}/read", rid)
        return denied or (Response(200, copy.deepcopy(existing)) if existing
                          else resource_not_found(TOPIC_TYPE, name, rg))
    if req.method == "DELETE":
        denied = require_action(world, req, f"{TOPIC_TYPE}/delete", rid)
        if denied:
            return denied
        with world.lock:
            world.system_topics.pop(rid.lower(), None)
            for k in [k for k in world.event_subscriptions if k.startswith(rid.lower() + "/")]:
                del world.event_subscriptions[k]
        return Response(200 if existing else 204)
    if req.method not in ("PUT", "PATCH"):
        return error(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed.")
    denied = require_action(world, req, f"{TOPIC_TYPE}/write", rid)
    if denied:
        return denied
    body = json_body(req)
    if isinstance(body, Response):
        return body
    return _put_topic(world, rid, name, body, existing)


def _put_topic(world: World, rid: str, name: str, body: dict[str, Any],
               existing: dict[str, Any] | None) -> Response:
    props = body.get("properties") or {}
    source = str(props.get("source") or (existing or {}).get("properties", {}).get("source") or "")
    if not source:
        return error(400, "InvalidRequest", "The source of a system topic is required.")
    with world.lock:
        for other in world.system_topics.values():
            if other["id"].lower() != rid.lower() and other["properties"]["source"].lower() == source.lower():
                return error(400, "InvalidRequest", f"System topic {other['name']} already exists for source "
                             f"{source}. Only one system topic is allowed per source.")
        out: dict[str, Any] = {
            "properties": {"provisioningState": "Succeeded", "source": source,
                           "topicType": str(props.get("topicType") or "Microsoft.KeyVault.vaults"),
                           "metricResourceId": (existing or {}).get("properties", {}).get("metricResourceId")
                           or str(uuid.uuid4())},
            "location": body.get("location") or (existing or {}).get("location") or "global",
            "tags": body.get("tags", (existing or {}).get("tags")),
            "id": rid, "name": name, "type": TOPIC_TYPE}
        if body.get("identity"):
            out["identity"] = body["identity"]
        world.system_topics[rid.lower()] = out
    return Response(200 if existing else 201, copy.deepcopy(out))


def list_topics(world: World, req: Request, sub: str, rg: str | None) -> Response:
    scope = f"/subscriptions/{sub}" + (f"/resourceGroups/{rg}" if rg else "")
    denied = require_action(world, req, f"{TOPIC_TYPE}/read", scope)
    if denied:
        return denied
    prefix = (scope + "/").lower()
    with world.lock:
        value = [copy.deepcopy(t) for k, t in world.system_topics.items() if k.startswith(prefix)]
    return Response(200, {"value": value})


# --- event subscriptions ------------------------------------------------------------------------------------


def _destination_as_served(dest: dict[str, Any]) -> dict[str, Any]:
    kind = dest.get("endpointType")
    p = dict(dest.get("properties") or {})
    if kind == "WebHook":
        url = str(p.pop("endpointUrl", "") or "")
        split = urlsplit(url)
        p = {"endpointBaseUrl": f"{split.scheme}://{split.netloc}{split.path}",
             "maxEventsPerBatch": p.get("maxEventsPerBatch") or 1,
             "preferredBatchSizeInKilobytes": p.get("preferredBatchSizeInKilobytes") or 64,
             **{k: v for k, v in p.items() if k not in ("maxEventsPerBatch", "preferredBatchSizeInKilobytes")}}
    elif kind == "AzureFunction":
        p = {"resourceId": p.get("resourceId"), "maxEventsPerBatch": p.get("maxEventsPerBatch") or 1,
             "preferredBatchSizeInKilobytes": p.get("preferredBatchSizeInKilobytes") or 64,
             "deliveryAttributeMappings": p.get("deliveryAttributeMappings") or []}
    return {"properties": p, "endpointType": kind}


def _filter_as_served(flt: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"subjectBeginsWith": flt.get("subjectBeginsWith") or "",
                           "subjectEndsWith": flt.get("subjectEndsWith") or "",
                           "isSubjectCaseSensitive": bool(flt.get("isSubjectCaseSensitive"))}
    if flt.get("includedEventTypes") is not None:
        out["includedEventTypes"] = list(flt["includedEventTypes"])
    for k in ("enableAdvancedFilteringOnArrays", "advancedFilters"):
        if flt.get(k) is not None:
            out[k] = flt[k]
    return out


def _check_destination(world: World, dest: dict[str, Any]) -> Response | None:
    kind = dest.get("endpointType")
    p = dest.get("properties") or {}
    if kind == "WebHook" and not str(p.get("endpointUrl", "")).startswith(("https://", "http://")):
        return error(400, "InvalidRequest", "The attempt to validate the provided endpoint failed: endpointUrl "
                     "must be an absolute URL.")
    if kind == "AzureFunction":
        fn = str(p.get("resourceId") or "")
        with world.lock:
            known = fn.lower() in world.function_endpoints
        if not known:
            return error(400, "InvalidRequest", f"Destination function {fn} does not exist or is not reachable.")
    elif kind not in ("WebHook", "StorageQueue", "ServiceBusQueue", "EventHub", "HybridConnection",
                      "ServiceBusTopic", "MonitorAlert", "NamespaceTopic"):
        return error(400, "InvalidRequest", f"Invalid destination endpoint type '{kind}'.")
    return None


def event_subscription(world: World, req: Request, sub: str, rg: str, topic: str, name: str) -> Response:
    topic_id = _topic_id(sub, rg, topic)
    rid = f"{topic_id}/eventSubscriptions/{name}"
    existing = world.event_subscriptions.get(rid.lower())
    if req.method == "GET":
        denied = require_action(world, req, f"{SUB_TYPE}/read", rid)
        return denied or (Response(200, served(existing)) if existing
                          else resource_not_found(SUB_TYPE, f"{topic}/{name}", rg))
    if req.method == "DELETE":
        denied = require_action(world, req, f"{SUB_TYPE}/delete", rid)
        if denied:
            return denied
        with world.lock:
            world.event_subscriptions.pop(rid.lower(), None)
        return Response(200 if existing else 204)
    if req.method not in ("PUT", "PATCH"):
        return error(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed.")
    denied = require_action(world, req, f"{SUB_TYPE}/write", rid)
    if denied:
        return denied
    body = json_body(req)
    if isinstance(body, Response):
        return body
    if topic_id.lower() not in world.system_topics:
        return resource_not_found(TOPIC_TYPE, topic, rg)
    # A PATCH (EventSubscriptionUpdateParameters) sends its fields at the top level; a PUT under "properties".
    changes = body.get("properties") or ({k: v for k, v in body.items() if k != "properties"}
                                         if req.method == "PATCH" else {})
    props = {**((existing or {}).get("properties") or {}), **changes}
    bad = _check_destination(world, props.get("destination") or {})
    if bad:
        return bad
    stored = _stored(topic_id, rid, name, props)
    with world.lock:
        world.event_subscriptions[rid.lower()] = stored
    eventgrid.ensure_delivery(world)
    return Response(201, served(stored))  # the spec's only answer to a subscription's PUT and PATCH


def _stored(topic_id: str, rid: str, name: str, props: dict[str, Any]) -> dict[str, Any]:
    """A subscription as kept (the destination whole, secrets included), with the service's defaults."""
    stored: dict[str, Any] = {"properties": {
        "topic": topic_id, "provisioningState": "Succeeded", "destination": props.get("destination") or {},
        "filter": _filter_as_served(props.get("filter") or {}), "labels": props.get("labels") or [],
        "eventDeliverySchema": props.get("eventDeliverySchema") or "EventGridSchema",
        "retryPolicy": props.get("retryPolicy") or dict(RETRY_DEFAULT)}, "id": rid, "name": name, "type": SUB_TYPE}
    for k in ("deadLetterDestination", "expirationTimeUtc", "deadLetterWithResourceIdentity"):
        if props.get(k) is not None:
            stored["properties"][k] = props[k]
    return stored


def served(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored subscription as GET shows it (the WebHook URL's query, which holds secrets, is hidden)."""
    out = copy.deepcopy(stored)
    out["properties"]["destination"] = _destination_as_served(stored["properties"]["destination"])
    return out


def list_subscriptions(world: World, req: Request, sub: str, rg: str, topic: str) -> Response:
    topic_id = _topic_id(sub, rg, topic)
    denied = require_action(world, req, f"{SUB_TYPE}/read", topic_id)
    if denied:
        return denied
    with world.lock:
        if topic_id.lower() not in world.system_topics:
            return resource_not_found(TOPIC_TYPE, topic, rg)
        value = [served(s) for k, s in world.event_subscriptions.items() if k.startswith(topic_id.lower() + "/")]
    return Response(200, {"value": value})


def subscription_action(world: World, req: Request, sub: str, rg: str, topic: str, name: str,
                        action: str) -> Response:
    """POST getFullUrl (WebHook: ``{"endpointUrl"}``) and getDeliveryAttributes."""
    rid = f"{_topic_id(sub, rg, topic)}/eventSubscriptions/{name}"
    if req.method != "POST":
        return error(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed.")
    verb = "getFullUrl" if action.lower() == "getfullurl" else "getDeliveryAttributes"
    denied = require_action(world, req, f"{SUB_TYPE}/{verb}/action", rid)
    if denied:
        return denied
    with world.lock:
        stored = world.event_subscriptions.get(rid.lower())
    if stored is None:
        return resource_not_found(SUB_TYPE, f"{topic}/{name}", rg)
    dest = stored["properties"]["destination"]
    if verb == "getDeliveryAttributes":
        return Response(200, {"value": (dest.get("properties") or {}).get("deliveryAttributeMappings") or []})
    # Assumption (README: UNCONFIRMED for AzureFunction): only a WebHook has a full URL.
    if dest.get("endpointType") != "WebHook":
        return error(400, "InvalidRequest", "Full URL is only available for WebHook destinations.")
    return Response(200, {"endpointUrl": dest["properties"]["endpointUrl"]})
