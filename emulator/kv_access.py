"""Who may reach a vault and do what there: tokens, network rules, Azure RBAC or access policies.

Key Vault checks in this order (README rows K1-K5, K13, K15 of shared/azure-wire/misconfig; pinned in
tests/fixtures/misconfig): a token at all (401 challenge), the token's issuer and life (401), the network
(403 ``ForbiddenByConnection`` when public access is disabled and the caller is not on a private endpoint,
403 ``ForbiddenByFirewall`` when the firewall denies the caller's address), then the permission model the
vault is set to (403 ``ForbiddenByRbac``, or ``ForbiddenByPolicy``/``AccessDenied`` on access-policy vaults).
Every 403 is ``{"error":{"code":"Forbidden",...,"innererror":{"code":<reason>}}}``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from emulator import kv_model as m
from emulator.world import Request, Response, Vault, World

# Access-policy permission names for the stand-in's data actions (Key Vault's REST reference, "requires the
# keys/<permission> permission"); a listing needs "list" instead of "get".
POLICY_PERMISSION = {
    "keys/create/action": "create", "keys/read": "get", "keys/update/action": "update",
    "keys/rotate/action": "rotate", "keyrotationpolicies/read": "getrotationpolicy",
    "keyrotationpolicies/write": "setrotationpolicy", "keys/delete": "delete", "deletedkeys/read": "get",
    "deletedkeys/delete": "purge", "deletedkeys/recover/action": "recover", "keys/wrap/action": "wrapKey",
    "keys/unwrap/action": "unwrapKey", "keys/encrypt/action": "encrypt", "keys/decrypt/action": "decrypt",
    "keys/sign/action": "sign", "keys/verify/action": "verify",
}
# The issuers Key Vault lists next to the vault's own in AKV10032 (first-party tenants seen in real answers,
# MicrosoftDocs/azure-docs#75410).
FIRST_PARTY_ISSUERS = ("72f988bf-86f1-41af-91ab-2d7cd011db47", "f8cdef31-a31e-4b4a-93e4-5f571e91255a")


class Refusal(Exception):
    """Answer at once with this response."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def network_info(world: World, vault: Vault | None = None) -> dict[str, str]:
    """``x-ms-keyvault-network-info`` as Key Vault sends it with every answer."""
    if vault is not None and vault.host in world.private_link_hosts:
        pe = f"{vault.resource_id}/privateEndpointConnections/pe-standin".lower()
        return {"x-ms-keyvault-network-info": f"conn_type=PrivateLink;private_endpoint={pe};addr=10.0.0.4;"}
    return {"x-ms-keyvault-network-info": f"conn_type=Ipv4;addr={world.client_ip};act_addr_fam=InterNetwork;"}


def _refuse(status: int, code: str, message: str, inner: str | None = None,
            headers: dict[str, str] | None = None) -> Refusal:
    return Refusal(Response(status, m.error(code, message, inner),
                            {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-cache",
                             **(headers or {})}))


def vault_tenant(world: World, vault: Vault) -> str:
    return str((vault.arm.get("properties") or {}).get("tenantId") or world.tenant_id)


def caller(world: World, req: Request) -> str:
    claims = req.token_claims or {}
    p = world.principals.get(req.principal_id or "")
    tid = claims.get("tid") or world.tenant_id
    return f"appid={p.client_id if p else ''};oid={req.principal_id};iss=https://sts.windows.net/{tid}/"


def check_token(world: World, req: Request, vault: Vault, challenge: dict[str, str]) -> None:
    """401s after the challenge: a token from another tenant, an expired token, a pending claims challenge."""
    from emulator.arm_auth import challenge_header, take_challenge

    claims = req.token_claims or {}
    expected = vault_tenant(world, vault)
    if claims.get("tid") and claims["tid"] != expected:
        issuers = ", ".join(f"https://sts.windows.net/{t}/" for t in (expected, *FIRST_PARTY_ISSUERS))
        # Assumption (README K13: the header on this 401 is UNCONFIRMED): the challenge names the vault's tenant.
        raise _refuse(401, "Unauthorized", f"AKV10032: Invalid issuer. Expected one of {issuers}, found "
                      f"https://sts.windows.net/{claims['tid']}/.", headers=challenge)
    if claims.get("exp") is not None and claims["exp"] <= world.now():
        # Assumption (no source in the misconfig reference): the text Key Vault answers an expired token with.
        raise _refuse(401, "Unauthorized", "[TokenExpired] Error validating token: 'S2S12086'.", headers=challenge)
    rule = take_challenge(world, "vault", req)
    if rule is not None:
        # Assumption (README K15 gives only the header): the body's text; clients act on the header alone.
        raise _refuse(401, "Unauthorized", "AKV10013: Token validation failed: claims challenge required.",
                      headers={"WWW-Authenticate": challenge_header(rule["form"])})


def _address_allowed(world: World, rules: list[dict[str, Any]]) -> bool:
    addr = ipaddress.ip_address(world.client_ip)
    for rule in rules:
        try:
            if addr in ipaddress.ip_network(str(rule.get("value", "")), strict=False):
                return True
        except ValueError:
            continue
    return False


def check_network(world: World, req: Request, vault: Vault) -> None:
    """The vault's public network access and firewall, for a caller that is not a trusted service."""
    props = vault.arm.get("properties") or {}
    if vault.host in world.private_link_hosts:
        return  # a private endpoint is let in whatever the public network settings say
    where = f"Vault: {vault.name};location={vault.location}"
    if str(props.get("publicNetworkAccess", "Enabled")).lower() == "disabled":
        raise _refuse(403, "Forbidden", "Public network access is disabled and request is not from a trusted "
                      f"service nor via an approved private link.\r\nCaller: {caller(world, req)}\r\n{where}",
                      "ForbiddenByConnection", network_info(world))
    acls = props.get("networkAcls") or {}
    if str(acls.get("defaultAction", "Allow")).lower() == "deny" and not _address_allowed(world, acls.get("ipRules")
                                                                                           or []):
        raise _refuse(403, "Forbidden", "Client address is not authorized and caller is not a trusted service."
                      f"\r\nClient address: {world.client_ip}\r\nCaller: {caller(world, req)}\r\n{where}",
                      "ForbiddenByFirewall", network_info(world))


def uses_access_policies(vault: Vault) -> bool:
    """An access-policy vault: RBAC off. ARM omits ``enableRbacAuthorization`` then and keeps ``accessPolicies``;
    a vault made without ARM (handler tests) has neither key and is an RBAC vault."""
    props = vault.arm.get("properties") or {}
    return not props.get("enableRbacAuthorization") and "accessPolicies" in props


def policy_allows(world: World, vault: Vault, principal_id: str | None, permission: str) -> bool:
    if principal_id is None:
        return False
    who = world.identities_of(principal_id)
    for policy in (vault.arm.get("properties") or {}).get("accessPolicies") or []:
        if str(policy.get("objectId", "")).lower() in {w.lower() for w in who}:
            granted = {str(p).lower() for p in (policy.get("permissions") or {}).get("keys") or []}
            if "all" in granted or permission.lower() in granted:
                return True
    return False


def authorize(world: World, req: Request, vault: Vault, permission: str, action: str,
              key_name: str | None = None, listing: bool = False) -> None:
    """Raise the 403 Key Vault answers when the caller may not do ``action``; network rules first."""
    check_network(world, req, vault)
    scope = vault.resource_id + (f"/keys/{key_name}" if key_name else "")
    where = f"{vault.name};location={vault.location}"
    if uses_access_policies(vault):
        needed = "list" if listing else POLICY_PERMISSION.get(action, action.rsplit("/", 1)[0])
        if policy_allows(world, vault, req.principal_id, needed):
            return
        raise _refuse(403, "Forbidden", f"The user, group or application '{caller(world, req)}' does not have keys "
                      f"{needed} permission on key vault '{where}'. For help resolving this issue, please see "
                      "https://go.microsoft.com/fwlink/?linkid=2125287", world.access_policy_innererror,
                      network_info(world))
    if world.can(req.principal_id, permission, scope):
        return
    kind = "managedHsm" if m.is_managed_hsm(vault.host) else "vaults"
    raise _refuse(403, "Forbidden", "Caller is not authorized to perform action on resource.\r\n"
                  "If role assignments, deny assignments or role definitions were changed recently, "
                  "please observe propagation time.\r\n"
                  f"Caller: {caller(world, req)}\r\n"
                  f"Action: 'Microsoft.KeyVault/{kind}/{action}'\r\n"
                  f"Resource: '{scope.lower()}'\r\n"
                  "Assignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\n"
                  f"Vault: {where}\r\n", "ForbiddenByRbac", network_info(world))
