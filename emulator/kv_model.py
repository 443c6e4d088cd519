"""Key Vault keys: wire shapes and pure helpers (no request handling here).

Shapes follow the real service as recorded in shared/azure-wire/keyvault-keys/sdk-recordings:
attributes carry key_size, recoverableDays, recoveryLevel, exportable and hsmPlatform, and
rotation-policy responses put ``trigger`` before ``action``.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

from emulator.world import Key, KeyVersion, Vault

RSA_OPS = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]
EC_OPS = ["sign", "verify"]
CURVE_BYTES = {"P-256": 32, "P-256K": 32, "P-384": 48, "P-521": 66}
KEY_TYPES = {"RSA", "RSA-HSM", "EC", "EC-HSM"}
NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
DEFAULT_NOTIFY = {"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}

# (host suffix, token resource, Entra authority host). Managed HSM has its own resource, and the
# SDK checks that the challenge's resource domain is a suffix of the vault host.
CLOUDS: list[tuple[str, str, str]] = [
    (".vault.azure.net", "https://vault.azure.net", "https://login.microsoftonline.com"),
    (".vault.azure.cn", "https://vault.azure.cn", "https://login.chinacloudapi.cn"),
    (".vault.usgovcloudapi.net", "https://vault.usgovcloudapi.net", "https://login.microsoftonline.us"),
    (".managedhsm.azure.net", "https://managedhsm.azure.net", "https://login.microsoftonline.com"),
    (".managedhsm.azure.cn", "https://managedhsm.azure.cn", "https://login.chinacloudapi.cn"),
    (".managedhsm.usgovcloudapi.net", "https://managedhsm.usgovcloudapi.net",
     "https://login.microsoftonline.us"),
]


def cloud_for_host(host: str) -> tuple[str, str] | None:
    """(token resource, authority host) for a vault or HSM host, or None when not a Key Vault host."""
    for suffix, resource, authority in CLOUDS:
        if host.lower().endswith(suffix):
            return resource, authority
    return None


def is_managed_hsm(host: str) -> bool:
    return ".managedhsm." in host.lower()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def new_version_id() -> str:
    return secrets.token_hex(16)


def make_version(kty: str, key_size: int | None, curve: str | None, key_ops: list[str] | None,
                 now: int) -> KeyVersion:
    """A new key version with random public material of the right length (no real key generation:
    nothing here signs or wraps, and generating RSA keys would cost ~100 ms each)."""
    if kty.startswith("RSA"):
        size = key_size or 2048
        n = bytearray(secrets.token_bytes(size // 8))
        n[0] |= 0x80  # a modulus of exactly `size` bits
        return KeyVersion(new_version_id(), kty, list(key_ops or RSA_OPS), key_size=size,
                          n=bytes(n), e=b"\x01\x00\x01", created=now, updated=now)
    crv = curve or "P-256"
    length = CURVE_BYTES[crv]
    return KeyVersion(new_version_id(), kty, list(key_ops or EC_OPS), curve=crv,
                      x=secrets.token_bytes(length), y=secrets.token_bytes(length),
                      created=now, updated=now)


def recovery(vault: Vault) -> tuple[int, str]:
    """(recoverableDays, recoveryLevel) as Key Vault derives them from the vault's soft-delete settings."""
    props = vault.arm.get("properties", {}) if isinstance(vault.arm, dict) else {}
    days = int(props.get("softDeleteRetentionInDays") or 90)
    level = "Recoverable" if days == 90 else "CustomizedRecoverable"
    if not props.get("enablePurgeProtection"):
        level += "+Purgeable"
    return days, level


def attributes(vault: Vault, v: KeyVersion) -> dict[str, Any]:
    attrs: dict[str, Any] = {"enabled": v.enabled}
    if v.nbf is not None:
        attrs["nbf"] = v.nbf
    if v.exp is not None:
        attrs["exp"] = v.exp
    if v.key_size is not None:
        attrs["key_size"] = v.key_size
    days, level = recovery(vault)
    attrs.update(created=v.created, updated=v.updated, recoveryLevel=level, recoverableDays=days,
                 exportable=False, hsmPlatform="2" if v.kty.endswith("-HSM") else "0")
    return attrs


def key_url(host: str, name: str, version: str | None = None) -> str:
    return f"https://{host}/keys/{name}" + (f"/{version}" if version else "")


def bundle(vault: Vault, key: Key, v: KeyVersion) -> dict[str, Any]:
    jwk: dict[str, Any] = {"kid": key_url(vault.host, key.name, v.version), "kty": v.kty,
                           "key_ops": list(v.key_ops)}
    if v.n is not None:
        jwk.update(n=b64url(v.n), e=b64url(v.e or b""))
    else:
        jwk.update(crv=v.curve, x=b64url(v.x or b""), y=b64url(v.y or b""))
    out: dict[str, Any] = {"key": jwk, "attributes": attributes(vault, v)}
    if v.tags:
        out["tags"] = dict(v.tags)
    return out


def item(vault: Vault, key: Key, v: KeyVersion, versioned: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"kid": key_url(vault.host, key.name, v.version if versioned else None),
                           "attributes": attributes(vault, v)}
    if v.tags:
        out["tags"] = dict(v.tags)
    return out


# ISO 8601 durations as rotation policies use them (P90D, P3M, P2Y, PT48H, P1Y10D). Months and
# years are counted as 30 and 365 days: close enough for expiry arithmetic in tests.
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def duration_seconds(text: str) -> int | None:
    m = _DURATION.match(text.strip().upper()) if text else None
    if not m or text.strip().upper() in ("P", "PT"):
        return None
    y, mo, w, d, h, mi, s = (int(g or 0) for g in m.groups())
    return ((y * 365 + mo * 30 + w * 7 + d) * 86400) + h * 3600 + mi * 60 + s


def default_policy(now: int) -> dict[str, Any]:
    return {"lifetimeActions": [DEFAULT_NOTIFY], "attributes": {"created": now, "updated": now}}


def merge_policy(old: dict[str, Any] | None, body: dict[str, Any], now: int) -> dict[str, Any]:
    """The stored policy after a PUT. Like the real service, a policy without a Notify action keeps
    the default Notify (P30D) after the other actions; ``trigger`` is serialized before ``action``."""
    actions: list[dict[str, Any]] = []
    for la in body.get("lifetimeActions") or []:
        trigger = {k: v for k, v in (la.get("trigger") or {}).items() if v is not None}
        action = {"type": (la.get("action") or {}).get("type")}
        actions.append({"trigger": trigger, "action": action})
    if not any(str(a["action"]["type"]).lower() == "notify" for a in actions):
        actions.append(DEFAULT_NOTIFY)
    created = (old or {}).get("attributes", {}).get("created", now)
    attrs: dict[str, Any] = {}
    expiry = (body.get("attributes") or {}).get("expiryTime")
    if expiry:
        attrs["expiryTime"] = expiry
    attrs.update(created=created, updated=now)
    return {"lifetimeActions": actions, "attributes": attrs}


def policy_errors(body: Any) -> str | None:
    """Why a rotation policy body is rejected, or None."""
    if not isinstance(body, dict):
        return "Rotation policy body must be a JSON object."
    for la in body.get("lifetimeActions") or []:
        kind = str((la.get("action") or {}).get("type", "")).lower()
        if kind not in ("rotate", "notify"):
            return f"Invalid lifetime action type: {kind!r}."
        for trig in (la.get("trigger") or {}).values():
            if trig is not None and duration_seconds(str(trig)) is None:
                return f"Invalid ISO 8601 duration: {trig!r}."
    expiry = (body.get("attributes") or {}).get("expiryTime")
    if expiry:
        secs = duration_seconds(str(expiry))
        if secs is None or secs < 28 * 86400:
            return "Expiry time must be at least 28 days (ISO 8601 duration, e.g. P90D)."
    return None


def policy_wire(host: str, key: Key) -> dict[str, Any]:
    policy = key.rotation_policy or default_policy(key.versions[0].created if key.versions else 0)
    return {"id": f"https://{host}/keys/{key.name}/rotationpolicy",
            "lifetimeActions": policy["lifetimeActions"], "attributes": policy["attributes"]}


def notify_before_expiry_s(key: Key) -> int:
    """Seconds before EXP when Key Vault fires KeyNearExpiry: the policy's Notify trigger, default 30 days."""
    for la in (key.rotation_policy or {}).get("lifetimeActions", []):
        if str(la.get("action", {}).get("type", "")).lower() == "notify":
            secs = duration_seconds(str(la.get("trigger", {}).get("timeBeforeExpiry", "")))
            if secs is not None:
                return secs
    return 30 * 86400


def error(code: str, message: str, inner: str | None = None) -> dict[str, Any]:
    # Real Key Vault spells the inner error "innererror" on the wire (the spec's property name;
    # "innerError" is only its client-side name), e.g. {"innererror":{"code":"SecretDisabled"}}.
    err: dict[str, Any] = {"code": code, "message": message}
    if inner:
        err["innererror"] = {"code": inner}
    return {"error": err}
