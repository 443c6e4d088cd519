"""The stand-in's Key Vault answers, held against the spec and against recorded real traffic.

Pinned copies live in tests/fixtures/keyvault/ (so these run in any clone); the tests marked as
needing ``../shared/azure-wire`` check those copies against the originals and skip without them.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from emu_support import Caller

from emulator import kv_model
from emulator.world import Vault, World
from tests.reference import ABSENT, AZURE_WIRE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "keyvault"
WIRE = AZURE_WIRE / "keyvault-keys"
FACTS = json.loads((FIXTURES / "pinned-wire-facts.json").read_text())
DEFS = json.loads((FIXTURES / "keys.2025-07-01.definitions.json").read_text())["definitions"]
HOST = "kv-test.vault.azure.net"
needs_wire = pytest.mark.skipif(not WIRE.is_dir(), reason=ABSENT)

# Where the real service and the spec disagree, the stand-in follows the service:
# - the last page of a listing carries "nextLink": null (spec: type string);
# - key attributes carry "key_size" (not declared in KeyAttributes).
SCHEMA_DEFS = copy.deepcopy(DEFS)
SCHEMA_DEFS["KeyListResult"]["properties"]["nextLink"]["type"] = ["string", "null"]
UNDECLARED_BUT_REAL = {("KeyAttributes", "key_size")}


def validate(body: Any, definition: str) -> None:
    jsonschema.Draft4Validator({"$ref": f"#/definitions/{definition}", "definitions": SCHEMA_DEFS}).validate(body)
    _declared_only(body, definition)


def _declared_only(body: Any, definition: str) -> None:
    """Every field we send is one the spec declares (the schema alone allows any extra field)."""
    schema = SCHEMA_DEFS[definition]
    if not isinstance(body, dict):
        return
    props = schema.get("properties", {})
    for k, v in body.items():
        assert k in props or (definition, k) in UNDECLARED_BUT_REAL, f"{definition}.{k} is not in the spec"
        sub = props.get(k, {})
        if "$ref" in sub:
            _declared_only(v, sub["$ref"].rsplit("/", 1)[1])
        elif sub.get("type") == "array" and "$ref" in sub.get("items", {}):
            for item in v:
                _declared_only(item, sub["items"]["$ref"].rsplit("/", 1)[1])


def shape(value: Any) -> Any:
    """Field names (in order) and JSON types, recursively; lists by their first element."""
    if isinstance(value, dict):
        return [(k, shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def create(kv: Caller, name: str) -> dict:
    r = kv("POST", HOST, f"/keys/{name}/create", FACTS["create_rsa"]["request"])
    assert r.status == 200
    return r.body


# ---- against the spec ------------------------------------------------------------------------

def test_responses_validate_against_the_2025_07_01_spec(world: World, vault: Vault, kv: Caller) -> None:
    validate(create(kv, "k"), "KeyBundle")
    validate(kv("PATCH", HOST, "/keys/k/", {"attributes": {"exp": 1900000000}, "tags": {"a": "b"}}).body,
             "KeyBundle")
    validate(kv("POST", HOST, "/keys/k/rotate").body, "KeyBundle")
    validate(kv("GET", HOST, "/keys/k/").body, "KeyBundle")
    validate(kv("GET", HOST, "/keys/k/versions", query={"maxresults": "1"}).body, "KeyListResult")
    validate(kv("GET", HOST, "/keys").body, "KeyListResult")
    validate(kv("GET", HOST, "/keys/k/rotationpolicy").body, "KeyRotationPolicy")
    validate(kv("PUT", HOST, "/keys/k/rotationpolicy", FACTS["rotation_policy"][3]["request"]).body,
             "KeyRotationPolicy")
    validate(kv("GET", HOST, "/keys/none/").body, "KeyVaultError")
    r = kv("POST", HOST, "/keys/ec/create", {"kty": "EC-HSM", "crv": "P-521"})
    validate(r.body, "KeyBundle")


def test_recorded_real_responses_pass_the_same_checks() -> None:
    """Sanity check of the checker: the real service's bodies pass it, with the two noted deviations."""
    validate(FACTS["create_rsa"]["response"], "KeyBundle")
    validate(FACTS["rotate"]["response"], "KeyBundle")
    validate(FACTS["versions"]["last_page"], "KeyListResult")
    for exchange in FACTS["rotation_policy"]:
        validate(exchange["response"], "KeyRotationPolicy")
    validate(FACTS["disabled_secret_403"]["body"], "KeyVaultError")


# ---- against recorded real traffic -----------------------------------------------------------

def test_challenge_matches_the_recording(world: World, vault: Vault, kv: Caller) -> None:
    r = kv("POST", HOST, "/keys/k/create", None, token=False)
    real = FACTS["challenge_401"]
    assert r.status == real["status"]
    assert r.body == real["body"]
    tenant_free = re.sub(r"[0-9a-f-]{36}", "TENANT", r.headers["WWW-Authenticate"])
    assert tenant_free == re.sub(r"[0-9a-f-]{36}", "TENANT", real["www_authenticate"])


def test_bundles_have_the_recorded_fields_in_the_recorded_order(world: World, vault: Vault, kv: Caller) -> None:
    assert shape(create(kv, "k")) == shape(FACTS["create_rsa"]["response"])
    assert shape(kv("POST", HOST, "/keys/k/rotate").body) == shape(FACTS["rotate"]["response"])
    listed = kv("GET", HOST, "/keys/k/versions").body
    assert shape(listed["value"][0]) == shape(FACTS["versions"]["first_page_item"])
    assert shape(listed) == shape(FACTS["versions"]["last_page"])  # nextLink null on the last page


def test_versions_replay_lists_in_the_recorded_order_and_pages(world: World, vault: Vault, kv: Caller,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    ids = iter(FACTS["versions"]["created_order"])
    monkeypatch.setattr(kv_model, "new_version_id", lambda: next(ids))
    for _ in FACTS["versions"]["created_order"]:
        create(kv, "k")
        world.advance(2)
    first = kv("GET", HOST, "/keys/k/versions", query={"maxresults": "6"}).body
    link = first["nextLink"]
    real_link = FACTS["versions"]["first_page_next_link"]
    generic = re.compile(r"https://[^/]+:443/keys/[^/]+/versions\?api-version=[^&]+&\$skiptoken=[^&]+&maxresults=6")
    assert generic.fullmatch(link) and generic.fullmatch(real_link)
    query = dict(p.split("=", 1) for p in link.split("?", 1)[1].split("&"))
    last = kv("GET", HOST, "/keys/k/versions", query=query).body
    listed = [i["kid"].rsplit("/", 1)[1] for i in first["value"] + last["value"]]
    assert listed == FACTS["versions"]["listed_order"]
    assert (len(first["value"]), len(last["value"]), last["nextLink"]) == (6, 1, None)


def test_rotation_policy_replay_answers_like_the_recording(world: World, vault: Vault, kv: Caller) -> None:
    create(kv, "k")
    for exchange in FACTS["rotation_policy"]:
        method = "PUT" if exchange["request"] is not None else "GET"
        r = kv(method, HOST, "/keys/k/rotationpolicy", exchange["request"])
        assert r.status == 200
        real = exchange["response"]
        assert r.body["lifetimeActions"] == real["lifetimeActions"]
        assert shape(r.body) == shape(real)
        assert r.body["id"] == f"https://{HOST}/keys/k/rotationpolicy"


def test_disabled_crypto_answers_like_key_vault_does_for_disabled_objects(world: World, vault: Vault,
                                                                          kv: Caller) -> None:
    """The envelope of the recorded disabled-secret 403, for keys on a crypto operation (a key's GET is 200)."""
    version = create(kv, "k")["key"]["kid"].rsplit("/", 1)[1]
    kv("PATCH", HOST, f"/keys/k/{version}", {"attributes": {"enabled": False}})
    assert kv("GET", HOST, f"/keys/k/{version}").status == 200
    r = kv("POST", HOST, f"/keys/k/{version}/decrypt", {"alg": "RSA-OAEP-256", "value": "AAAA"})
    real = json.loads(json.dumps(FACTS["disabled_secret_403"]["body"]).replace("secret", "key")
                      .replace("SecretDisabled", "KeyDisabled").replace("get", "decrypt"))
    assert (r.status, r.body) == (FACTS["disabled_secret_403"]["status"], real)


# ---- the pinned copies still match ../shared/azure-wire -------------------------------------

@needs_wire
def test_pinned_definitions_match_the_spec_extract() -> None:
    extract = json.loads((WIRE / "keys.2025-07-01.extract.json").read_text())
    assert extract["definitions"] == DEFS


@needs_wire
def test_pinned_facts_match_the_sdk_recordings() -> None:
    def entries(name: str) -> list[dict[str, Any]]:
        return json.loads((WIRE / "sdk-recordings" / name).read_text())["Entries"]

    versions = entries("test_list_versions.2025-07-01_vault.json")
    assert versions[0]["ResponseHeaders"]["WWW-Authenticate"] == FACTS["challenge_401"]["www_authenticate"]
    assert versions[1]["ResponseBody"] == FACTS["create_rsa"]["response"]
    pages = [e for e in versions if "/versions" in e["RequestUri"]]
    assert pages[-1]["ResponseBody"] == FACTS["versions"]["last_page"]
    listed = [i["kid"].rsplit("/", 1)[1] for p in pages for i in p["ResponseBody"]["value"]]
    assert listed == FACTS["versions"]["listed_order"]
    policy = [e for e in entries("test_key_rotation_policy.7.5_vault.json") if "rotationpolicy" in e["RequestUri"]]
    assert [e["ResponseBody"] for e in policy] == [x["response"] for x in FACTS["rotation_policy"]]
    rotate = [e for e in entries("test_key_rotation.7.5_vault.json")
              if e["RequestUri"].split("?")[0].endswith("/rotate")]
    assert rotate[0]["ResponseBody"] == FACTS["rotate"]["response"]
    assert rotate[0]["RequestHeaders"]["Content-Length"] == "0" and rotate[0]["RequestBody"] is None


@needs_wire
def test_spec_examples_pass_the_checks() -> None:
    for name, op in (("RotateKey-example.2025-07-01.json", "KeyBundle"),
                     ("GetKey-example.7.6.json", "KeyBundle"),
                     ("GetKeyRotationPolicy-example.2025-07-01.json", "KeyRotationPolicy"),
                     ("GetKeyVersions-example.7.5.json", "KeyListResult")):
        example = json.loads((WIRE / "examples" / name).read_text())
        jsonschema.Draft4Validator({"$ref": f"#/definitions/{op}", "definitions": SCHEMA_DEFS}).validate(
            example["responses"]["200"]["body"])
