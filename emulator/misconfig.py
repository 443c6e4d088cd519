"""Switches that turn the stand-in's well-configured tenant into a misconfigured one, one row at a time.

``AzureStandIn.misconfig`` is a ``Misconfig``. Each method switches on one row of the misconfiguration
matrix (docs/misconfig-standin.md lists them with their wire shapes); nothing is on by default. Most change
the world as the operator's mistake would have left it (a role removed, a firewall turned on), so the
stand-in's services then answer exactly as Azure does, through the unmodified SDKs.
"""

from __future__ import annotations

import uuid
from typing import Any

from emulator import identity, keyvault
from emulator.arm_common import lower_rg
from emulator.arm_resources import _vault_properties_as_served, soft_delete_vault
from emulator.world import Vault, World


def access_policy(object_id: str, keys: list[str], tenant_id: str | None = None) -> dict[str, Any]:
    """One ``accessPolicies`` entry (key permissions only), as ARM shows it."""
    entry: dict[str, Any] = {"tenantId": tenant_id, "objectId": object_id, "permissions": {"keys": list(keys)}}
    return entry


class Misconfig:
    def __init__(self, world: World) -> None:
        self.world = world

    # --- credentials and tokens ------------------------------------------------------------------------------
    def no_managed_identity(self) -> None:
        """The app has no identity the endpoint can load: App Service answers 400 "Unable to load the proper
        Managed Identity." to every token request (README C2)."""
        self.world.msi_mode = "none"

    def user_assigned_only(self) -> None:
        """Only user-assigned identities on the app: a token request that names none fails as above; one naming
        the app's identity (AZURE_CLIENT_ID) works (Azure/azure-functions-host#8037)."""
        self.world.msi_mode = "user_assigned_only"

    def imds(self, mode: str) -> None:
        """What IMDS (AZURE_POD_IDENTITY_AUTHORITY_HOST) does: "no_identity" (the default: 400), "absent"
        (connections dropped: "no response from the IMDS endpoint") or "assigned" (tokens for the app)."""
        if mode not in ("no_identity", "absent", "assigned"):
            raise ValueError(f"unknown IMDS mode {mode!r}")
        self.world.imds_mode = mode

    def token_tenant(self, tenant_id: str | None = None, principal_id: str | None = None) -> str:
        """Tokens minted from now on for ``principal_id`` (the app's by default) come from another tenant than
        the subscriptions and vaults: ARM answers 401 InvalidAuthenticationTokenTenant, Key Vault 401 AKV10032
        with a challenge naming the vault's tenant. Returns that other tenant's id."""
        tenant_id = tenant_id or str(uuid.uuid4())
        with self.world.lock:
            self.world.principals[principal_id or self.world.app_principal_id].tenant_id = tenant_id
        return tenant_id

    def expire_tokens(self, principal_id: str | None = None) -> int:
        """The tokens already issued (to ``principal_id``, or to everyone) are expired in the services' eyes while
        their holders' caches still hold them: ARM 401 ExpiredAuthenticationToken, Key Vault 401."""
        return identity.expire_tokens(self.world, principal_id)

    def claims_challenge(self, service: str = "arm", form: str = "insufficient_claims", times: int = 1,
                         principal_id: str | None = None) -> dict[str, Any]:
        """The next ``times`` calls to ``service`` ("arm" or "vault") get a 401 claims challenge: Entra's
        ``insufficient_claims`` form (azure-core answers the first by itself; twice in a row surfaces) or ARM's
        ``legacy`` ``invalid_token`` + claims form (azure-core does not handle it)."""
        if service not in ("arm", "vault") or form not in ("insufficient_claims", "legacy"):
            raise ValueError(f"unknown challenge {service!r}/{form!r}")
        rule = {"service": service, "form": form, "times": times, "principal": principal_id}
        with self.world.lock:
            self.world.auth_challenges.append(rule)
        return rule

    # --- authorization and subscriptions ---------------------------------------------------------------------
    def revoke(self, principal_id: str, role: str | None = None, scope: str | None = None) -> int:
        """Remove role assignments: ARM then answers 403 AuthorizationFailed naming the missing action."""
        return self.world.revoke(principal_id, role, scope)

    def add_group(self, members: list[str], name: str = "group") -> str:
        """A security group (its object id is returned): roles granted to it apply to its members."""
        group = self.world.add_principal(name)
        with self.world.lock:
            self.world.groups[group.principal_id] = set(members)
        return group.principal_id

    def forget_subscription(self, subscription_id: str) -> None:
        """The subscription no longer exists (or never did): 404 SubscriptionNotFound."""
        with self.world.lock:
            self.world.subscriptions.pop(subscription_id.lower(), None)

    def subscription_tenant(self, subscription_id: str, tenant_id: str | None = None) -> str:
        """Move a subscription to another tenant (its tokens must then come from there)."""
        tenant_id = tenant_id or str(uuid.uuid4())
        with self.world.lock:
            self.world.subscription_tenants[subscription_id.lower()] = tenant_id
        return tenant_id

    def unregister_provider(self, subscription_id: str, namespace: str = "Microsoft.ContainerRegistry") -> None:
        """The subscription is not registered for ``namespace``: 409 MissingSubscriptionRegistration on every
        call into it, until someone POSTs ``/providers/{namespace}/register`` (recorded in
        ``AzureStandIn.provider_registrations``)."""
        with self.world.lock:
            self.world.unregistered_providers.add((subscription_id.lower(), namespace.lower()))

    # --- vaults ------------------------------------------------------------------------------------------------
    def vault(self, name_or_url: str) -> Vault:
        host = name_or_url.split("//")[-1].split("/")[0].lower()
        with self.world.lock:
            found = self.world.vault_for_host(host) or next(
                (v for v in self.world.vaults.values() if v.name.lower() == host), None)
        if found is None:
            raise KeyError(f"no vault {name_or_url!r}")
        return found

    def _set_properties(self, vault_: Vault, **changes: Any) -> dict[str, Any]:
        with self.world.lock:
            props = dict(vault_.arm.get("properties") or {})
            for k, v in changes.items():
                if v is None:
                    props.pop(k, None)
                else:
                    props[k] = v
            vault_.arm["properties"] = _vault_properties_as_served(props)
            return dict(vault_.arm["properties"])

    def access_policies(self, vault_name: str, policies: list[dict[str, Any]]) -> dict[str, Any]:
        """Switch the vault to access policies (RBAC off: ``enableRbacAuthorization`` then absent) with these
        entries (see ``access_policy``). Denials are 403 ForbiddenByPolicy (or ``policy_innererror``)."""
        v = self.vault(vault_name)
        tenant = self.world.tenant_id
        entries = [{**p, "tenantId": p.get("tenantId") or tenant} for p in policies]
        return self._set_properties(v, enableRbacAuthorization=False, accessPolicies=entries)

    def policy_innererror(self, code: str) -> None:
        """"ForbiddenByPolicy" (the default, 2021 capture) or "AccessDenied" (2024 capture)."""
        self.world.access_policy_innererror = code

    def firewall(self, vault_name: str, default_action: str = "Deny", ip_rules: tuple[str, ...] = (),
                 bypass: str = "AzureServices") -> dict[str, Any]:
        """The vault's ``networkAcls``: with Deny, callers whose address (``caller_address``) no rule allows get
        403 ForbiddenByFirewall; with bypass AzureServices only a registry's system-assigned identity passes."""
        acls = {"bypass": bypass, "defaultAction": default_action, "ipRules": [{"value": r} for r in ip_rules],
                "virtualNetworkRules": []}
        return self._set_properties(self.vault(vault_name), networkAcls=acls)

    def public_network_access(self, vault_name: str, enabled: bool) -> dict[str, Any]:
        """``publicNetworkAccess: Disabled``: 403 ForbiddenByConnection unless the caller is on a private link."""
        return self._set_properties(self.vault(vault_name),
                                    publicNetworkAccess="Enabled" if enabled else "Disabled")

    def private_link(self, vault_name: str, on: bool = True) -> None:
        """The callers reach this vault through an approved private endpoint (network rules then let them in)."""
        host = self.vault(vault_name).host
        with self.world.lock:
            (self.world.private_link_hosts.add if on else self.world.private_link_hosts.discard)(host)

    def caller_address(self, ip: str) -> None:
        """The public address Key Vault sees the callers come from (default 203.0.113.10)."""
        self.world.client_ip = ip

    def purge_protection(self, vault_name: str, on: bool) -> dict[str, Any]:
        """On: ``enablePurgeProtection: true``. Off: the key absent, as Key Vault omits it (never false)."""
        return self._set_properties(self.vault(vault_name), enablePurgeProtection=True if on else None)

    def delete_key(self, vault_name: str, key_name: str, purge: bool = False) -> None:
        """Soft-delete a key (recoverable from deletedkeys) or, with ``purge``, make it gone for good."""
        v = self.vault(vault_name)
        with self.world.lock:
            key = self.world.keys.get((v.host, key_name.lower()))
            if key is None:
                raise KeyError(f"no key {key_name!r} in {v.name}")
            if purge:
                del self.world.keys[(v.host, key_name.lower())]
                return
        keyvault.mark_deleted(self.world, v, key)

    def delete_vault(self, vault_name: str, purge: bool = False) -> None:
        """Delete the vault: its host stops resolving and its ARM GET is 404 ResourceNotFound; it stays in
        ``deletedVaults`` (soft delete) unless ``purge``."""
        v = self.vault(vault_name)
        with self.world.lock:
            soft_delete_vault(self.world, v)
            if purge:
                del self.world.deleted_vaults[v.name.lower()]
                for k in [k for k in self.world.keys if k[0] == v.host]:
                    del self.world.keys[k]

    # --- registries' identities --------------------------------------------------------------------------------
    def delete_identity(self, identity_id: str) -> None:
        """Delete a user-assigned identity; registries keep a dangling reference to it (README R1)."""
        with self.world.lock:
            self.world.identities.pop(lower_rg(identity_id).lower(), None)
