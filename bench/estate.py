"""Benchmark estates on the stand-in: a few things through the SDKs, then registries cloned in bulk.

Vaults, keys, the identity, its role assignment and one template registry per key go through the
official SDKs (emulator/seed.py), as in every test. The other registries are copies of a template
written STRAIGHT INTO ``az.world`` -- benchmark setup only, because creating 10,000 registries over
HTTPS would take longer than the benchmarks themselves. Copies differ only in id, name and login
server, so what the engine later reads over the wire is exactly what ARM answered for the template.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from emulator import seed
from emulator.arm_registries import RTYPE, settle
from emulator.standin import AzureStandIn

RG = "rg-bench"
VAULT = "kv-bench"


@dataclass
class BenchEstate:
    vault_url: str
    keys: dict[str, str] = field(default_factory=dict)  # key name -> version the registries are pinned to
    registries: dict[str, list[str]] = field(default_factory=dict)  # key name -> registry ids

    def key_url(self, name: str) -> str:
        return f"{self.vault_url.rstrip('/')}/keys/{name}"


def vault_and_identity(az: AzureStandIn) -> tuple[str, str]:
    """A vault and an identity allowed to wrap with its keys, in the first subscription: (vault URL, identity id)."""
    sub = az.subscription_ids[0]
    vault_url = seed.create_vault(az, sub, RG, VAULT)
    identity_id, _, principal_id = seed.create_identity(az, sub, RG, "id-bench")
    vault_id = f"/subscriptions/{sub}/resourceGroups/{RG}/providers/Microsoft.KeyVault/vaults/{VAULT}"
    seed.grant(az, principal_id, "Key Vault Crypto Service Encryption User", vault_id)
    return vault_url, identity_id


def add_key_with_registries(az: AzureStandIn, estate: BenchEstate, identity_id: str, key_name: str, count: int,
                            subscriptions: list[str], prefix: str) -> None:
    """A key and ``count`` registries pinned to its current version, spread round-robin over ``subscriptions``."""
    version = str(seed.create_key(az, estate.vault_url, key_name, "RSA", size=2048).properties.version)
    estate.keys[key_name] = version
    template = seed.create_registry(az, subscriptions[0], RG, f"{prefix}0", identity_id=identity_id,
                                    key_id=f"{estate.key_url(key_name)}/{version}")
    ids = [str(template.id)]
    w = az.world
    with w.lock:
        body = settle(w, str(template.id).lower())
        assert body is not None
        for i in range(1, count):
            sub = subscriptions[i % len(subscriptions)]
            name = f"{prefix}{i}"
            rid = f"/subscriptions/{sub}/resourceGroups/{RG}/providers/{RTYPE}/{name}"
            clone = copy.deepcopy(body)
            clone.update(id=rid, name=name)
            clone["properties"]["loginServer"] = f"{name}.azurecr.io"
            w.registries[rid.lower()] = clone
            w.registry_state[rid.lower()] = {"op": None}
            ids.append(rid)
    estate.registries[key_name] = ids


def cmk_estate(az: AzureStandIn, registries: int, keys: int, subscriptions: int | None = None,
               prefix: str = "acr") -> BenchEstate:
    """``registries`` pinned registries over ``keys`` keys and the first ``subscriptions`` subscriptions."""
    vault_url, identity_id = vault_and_identity(az)
    estate = BenchEstate(vault_url)
    subs = az.subscription_ids[:subscriptions] if subscriptions else az.subscription_ids
    per_key = [registries // keys + (1 if k < registries % keys else 0) for k in range(keys)]
    for k, count in enumerate(per_key):
        # Rotate the start so every subscription holds registries of every key.
        rotated = subs[k % len(subs):] + subs[:k % len(subs)]
        add_key_with_registries(az, estate, identity_id, f"key{k}", count, rotated, f"{prefix}k{k}r")
    return estate


def new_version(az: AzureStandIn, estate: BenchEstate, key_name: str) -> str:
    """A new version of the key (through the SDK; Key Vault publishes KeyNewVersionCreated)."""
    return str(seed.create_key(az, estate.vault_url, key_name, "RSA", size=2048).properties.version)
