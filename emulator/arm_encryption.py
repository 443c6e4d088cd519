"""ACR's customer-managed-key rules, checked the way the registry service checks them.

Error codes and messages are modelled on ACR's style (codes in PascalCase, a pointer to
https://aka.ms/acr/cmk); the exact production wording for each case is not published.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from emulator import kv_access
from emulator.arm_common import error, iso
from emulator.world import Key, KeyVersion, Response, Vault, World

CMK_HELP = "For more information on customer-managed keys, please visit 'https://aka.ms/acr/cmk'."
RSA_TYPES = ("RSA", "RSA-HSM")


def _bad(code: str, message: str) -> Response:
    return error(400, code, f"{message} {CMK_HELP}")


def parse_key_id(key_id: str) -> tuple[str, str, str | None] | None:
    """https://{vault}/keys/{name}[/{version}] -> (host, name, version or None)."""
    u = urlsplit(key_id)
    parts = [p for p in u.path.split("/") if p]
    if u.scheme != "https" or not u.hostname or len(parts) not in (2, 3) or parts[0].lower() != "keys":
        return None
    return u.hostname.lower(), parts[1], (parts[2].lower() if len(parts) == 3 else None)


def newest_enabled(key: Key, not_after: float | None = None) -> KeyVersion | None:
    """The newest enabled version by creation time (never by list order), optionally created by ``not_after``."""
    best: KeyVersion | None = None
    for v in key.versions:  # creation order, so ">=" keeps the later of equal timestamps
        if v.enabled and (not_after is None or v.created <= not_after) and (best is None or v.created >= best.created):
            best = v
    return best


def _identity_gone(registry_id: str, identity: str) -> Response:
    # ACR's troubleshooting text (misconfig README R1). Assumption: its status and code are UNCONFIRMED; the
    # stand-in answers 400 InvalidEncryptionIdentity.
    name = registry_id.rstrip("/").rsplit("/", 1)[-1]
    return error(400, "InvalidEncryptionIdentity",
                 f"Azure resource '{registry_id}' does not have access to identity '{identity}' Try forcibly adding "
                 f"the identity to the registry {name}. For more information on bring your own key, please visit "
                 "'https://aka.ms/acr/cmk'.")


def resolve_principal(world: World, identity: str, reg_identity: dict[str, Any] | None,
                      system_principal: str | None, registry_id: str) -> tuple[str, bool] | Response:
    """``keyVaultProperties.identity`` (a clientId or 'system') -> (the principal that unwraps the key, whether
    it is the registry's system-assigned identity). An identity no longer on the registry, or deleted, is R1."""
    if identity.lower() == "system":
        if system_principal is None or "systemassigned" not in str((reg_identity or {}).get("type", "")).lower():
            return _identity_gone(registry_id, "system")
        return system_principal, True
    for entry in ((reg_identity or {}).get("userAssignedIdentities") or {}).values():
        if str(entry.get("clientId", "")).lower() == identity.lower():
            with world.lock:
                exists = any(str(i["properties"]["clientId"]).lower() == identity.lower()
                             for i in world.identities.values())
            return (str(entry["principalId"]), False) if exists else _identity_gone(registry_id, identity)
    return _identity_gone(registry_id, identity)


def _reachable(vault: Vault, system: bool) -> bool:
    """Whether the registry gets through the vault's network rules: only its system-assigned identity, and only
    with the trusted-services exception (bypass AzureServices, the default): DOC-ACR and
    MicrosoftDocs/azure-docs#75970 in the misconfig README."""
    props = vault.arm.get("properties") or {}
    acls = props.get("networkAcls") or {}
    closed = (str(props.get("publicNetworkAccess", "Enabled")).lower() == "disabled"
              or str(acls.get("defaultAction", "Allow")).lower() == "deny")
    return not closed or (system and str(acls.get("bypass", "AzureServices")) == "AzureServices")


def _may_use_key(world: World, vault: Vault, key: Key, principal_id: str) -> bool:
    if kv_access.uses_access_policies(vault):
        return all(kv_access.policy_allows(world, vault, principal_id, p) for p in ("get", "wrapKey", "unwrapKey"))
    return world.can(principal_id, "keys/wrap", f"{vault.resource_id}/keys/{key.name}")


def check_key(world: World, key_id: str, principal_id: str, system: bool = False,
              identity: str = "") -> tuple[Key, KeyVersion, bool] | Response:
    """Validate the key behind ``key_id``; returns (key, version in use, versionless)."""
    parsed = parse_key_id(key_id)
    if parsed is None:
        return _bad("InvalidKeyIdentifier", f"The key identifier '{key_id}' is not a valid Key Vault key URI.")
    host, name, version = parsed
    with world.lock:
        vault = world.vault_for_host(host)
        key = world.keys.get((host, name.lower()))
    if vault is None:
        return _bad("KeyVaultNotFound", f"The key vault '{host}' could not be found or reached.")
    if not _reachable(vault, system) or (key is not None and not _may_use_key(world, vault, key, principal_id)):
        # ACR's text (misconfig README R2; MicrosoftDocs/azure-docs#61015) for missing permissions and for a
        # firewall a user-assigned identity cannot pass. Assumption: status 400 and the code are the stand-in's.
        return error(400, "KeyVaultAccessDenied",
                     f"Failed to access KeyId '{key_id}'. Verify that identity '{identity or principal_id}' has "
                     f"'Get, Wrap Key, Unwrap Key' permission on key '{key_id}'. For more information on bring "
                     "your own key, please visit 'https://aka.ms/acr/cmk'.")
    if key is None or key.deleted or not key.versions:
        return _bad("KeyNotFound", f"The key '{name}' was not found in the key vault '{host}'.")
    if version is None:
        in_use = newest_enabled(key)
        if in_use is None:
            return _bad("KeyNotEnabled", f"The key '{key_id}' has no enabled version.")
    else:
        found = next((v for v in key.versions if v.version == version), None)
        if found is None:
            return _bad("KeyVersionNotFound", f"The key version '{key_id}' was not found.")
        if not found.enabled:
            return _bad("KeyNotEnabled", f"The key version '{key_id}' is disabled.")
        in_use = found
    if in_use.kty.upper() not in RSA_TYPES:
        return _bad("UnsupportedKeyType",
                    f"The key type '{in_use.kty}' of key '{key_id}' is not supported. Azure Container Registry "
                    "supports only RSA or RSA-HSM keys; elliptic curve keys are not supported.")
    return key, in_use, version is None


def versioned_id(world: World, key: Key, version: KeyVersion) -> str:
    return f"https://{key.vault_host}/keys/{key.name}/{version.version}"


def build_encryption(world: World, requested: dict[str, Any], current: dict[str, Any], sku: str,
                     reg_identity: dict[str, Any] | None, system_principal: str | None,
                     registry_id: str = "") -> dict[str, Any] | Response:
    """The registry's new ``encryption`` from a requested one, or ACR's error."""
    current_enabled = str(current.get("status", "disabled")).lower() == "enabled"
    kvp_in = requested.get("keyVaultProperties") or {}
    status = str(requested.get("status") or ("enabled" if kvp_in or current_enabled else "disabled")).lower()
    if status not in ("enabled", "disabled"):
        return _bad("InvalidEncryptionStatus", f"The encryption status '{status}' is invalid.")
    if status == "disabled":
        if current_enabled:
            return _bad("EncryptionCannotBeDisabled",
                        "Encryption with a customer-managed key cannot be disabled once enabled.")
        return {"status": "disabled"}
    if sku.lower() != "premium":
        return _bad("EncryptionNotSupportedForSku",
                    f"Customer-managed key encryption is only supported for Premium registries, not '{sku}'.")
    current_kvp = current.get("keyVaultProperties") or {}
    key_id = str(kvp_in.get("keyIdentifier") or current_kvp.get("keyIdentifier") or "")
    identity = str(kvp_in.get("identity") or current_kvp.get("identity") or "")
    if not key_id or not identity:
        return _bad("InvalidEncryptionProperties",
                    "Both keyVaultProperties.keyIdentifier and keyVaultProperties.identity are required.")
    resolved = resolve_principal(world, identity, reg_identity, system_principal, registry_id)
    if isinstance(resolved, Response):
        return resolved
    principal, system = resolved
    checked = check_key(world, key_id, principal, system, identity)
    if isinstance(checked, Response):
        return checked
    key, in_use, versionless = checked
    versioned = versioned_id(world, key, in_use) if versionless else key_id
    kvp: dict[str, Any] = {"keyIdentifier": key_id, "versionedKeyIdentifier": versioned, "identity": identity,
                           "keyRotationEnabled": versionless}
    previous = current_kvp.get("versionedKeyIdentifier")
    if previous and str(previous).lower() != versioned.lower():
        kvp["lastKeyRotationTimestamp"] = iso(world.now())
    elif current_kvp.get("lastKeyRotationTimestamp"):
        kvp["lastKeyRotationTimestamp"] = current_kvp["lastKeyRotationTimestamp"]
    return {"status": "enabled", "keyVaultProperties": kvp}


def follow_versionless(world: World, encryption: dict[str, Any]) -> None:
    """ACR moves a versionless registry to the newest enabled version once it is ``versionless_lag_s`` old."""
    kvp = encryption.get("keyVaultProperties") or {}
    if str(encryption.get("status")).lower() != "enabled" or not kvp.get("keyRotationEnabled"):
        return
    parsed = parse_key_id(str(kvp.get("keyIdentifier", "")))
    if parsed is None:
        return
    host, name, _ = parsed
    key = world.keys.get((host, name.lower()))
    if key is None or key.deleted:
        return
    lag = world.settings.versionless_lag_s
    newest = newest_enabled(key, not_after=world.now() - lag)
    if newest is None:
        return
    target = versioned_id(world, key, newest)
    if target.lower() != str(kvp.get("versionedKeyIdentifier", "")).lower():
        kvp["versionedKeyIdentifier"] = target
        kvp["lastKeyRotationTimestamp"] = iso(min(world.now(), newest.created + lag))
