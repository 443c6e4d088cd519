"""The fix for each misconfiguration, in one sentence that names the missing role, permission, setting or command.

Pure text, kept beside nothing that does I/O: the adapters fill the blanks from the failure they saw, and
docs/troubleshooting.md explains each row at length (a test keeps the two complete).
"""

from __future__ import annotations

from shared.reasons import Finding, Problem, Reason

# The least role that grants an ARM action this app needs (docs/deploy.md, "Roles, and why each").
ROLE_FOR_ACTION = {
    "microsoft.resources/subscriptions/read": "Reader on the subscription",
    "microsoft.containerregistry/registries/read": "Reader on the registry's subscription or resource group",
    "microsoft.containerregistry/registries/write": "Container Registry Contributor and Data Access Configuration "
                                                   "Administrator on the registry's subscription or resource group",
    "microsoft.keyvault/vaults/read": "Reader on the vault's subscription or resource group",
    "microsoft.keyvault/locations/deletedvaults/read": "Reader on the vault's subscription",
    "microsoft.authorization/roleassignments/read": "Reader on the vault",
    "microsoft.resourcegraph/resources/read": "Reader on each subscription in scope",
    # Reader on the topic alone: the least built-in role with systemTopics/read and its eventSubscriptions/read
    # (EventGrid EventSubscription Reader covers neither; EventGrid Contributor writes). infra grants it.
    "microsoft.eventgrid/systemtopics/read": "Reader on the vault's Event Grid system topic (infra/app/"
                                             "rbac-systemtopic.bicep grants it)",
    "microsoft.eventgrid/systemtopics/eventsubscriptions/read": "Reader on the vault's Event Grid system topic "
                                                                "(infra/app/rbac-systemtopic.bicep grants it)",
    "microsoft.managedidentity/userassignedidentities/assign/action":
        "Managed Identity Operator on the identity (only needed when a registry's identity changes)",
}

FIX: dict[Reason, str] = {
    Reason.NO_CREDENTIAL: "on your machine run `az login` (or `azd auth login`); on Azure give the app a managed "
                          "identity and set AZURE_CLIENT_ID to its client id",
    Reason.MANAGED_IDENTITY_NOT_FOUND: "set AZURE_CLIENT_ID to the client id of a user-assigned identity attached to "
                                       "the function app, or attach that identity to the app",
    Reason.WRONG_TENANT: "sign in to the tenant that owns the subscription and vault (`az login --tenant {tenant}`), "
                         "or deploy the app in that tenant",
    Reason.TOKEN_REJECTED: "retry; if it persists, check the machine's clock and that AZURE_CLOUD matches the cloud "
                           "of the subscriptions",
    Reason.CLAIMS_CHALLENGE_FAILED: "a Conditional Access or Continuous Access Evaluation policy refused the token: "
                                    "check the identity's sign-in logs in Entra ID and exempt or satisfy the policy",
    Reason.SUBSCRIPTION_NOT_FOUND: "remove {subscription} from ROTATION_SUBSCRIPTION_IDS, or sign in to the tenant "
                                   "that holds it",
    Reason.NO_SUBSCRIPTIONS: "grant the app's identity Reader on each subscription to manage (or set "
                             "ROTATION_SUBSCRIPTION_IDS); if its tokens are from another tenant, sign in to the "
                             "subscriptions' tenant",
    Reason.PROVIDER_NOT_REGISTERED: "ask the subscription's owner to run `az provider register --namespace {namespace} "
                                    "--subscription {subscription}` (this app never registers providers itself)",
    Reason.FORBIDDEN: "grant the app's identity {role}",
    Reason.KEY_FORBIDDEN: "grant the app's identity Key Vault Reader on the vault (RBAC), or an access policy with "
                          "key permissions get and list",
    Reason.KEY_FORBIDDEN_BY_RBAC: "grant the app's identity {key_role} on vault {vault} (Azure RBAC)",
    Reason.KEY_FORBIDDEN_BY_POLICY: "add an access policy on vault {vault} for the app's identity with key "
                                    "permissions {key_permissions}",
    Reason.KEY_FORBIDDEN_BY_FIREWALL: "allow the app's outbound addresses or its VNet subnet in vault {vault}'s "
                                      "networking rules (a function app is not a trusted Microsoft service)",
    Reason.KEY_FORBIDDEN_BY_PRIVATE_LINK: "vault {vault} takes no public traffic: integrate the app with a VNet that "
                                          "has a private endpoint to the vault and the privatelink.vaultcore.azure.net "
                                          "DNS zone (VNET_ENABLED=true in infra)",
    Reason.KEY_SOFT_DELETED: "recover it before it is purged: `az keyvault key recover --vault-name {vault} --name "
                             "{key}`; registries using it cannot reach their data until then",
    Reason.KEY_NOT_FOUND: "urgent: the key is gone; recover it from backup (`az keyvault key restore`) or move the "
                          "registries to another key with `az acr encryption rotate-key`",
    Reason.VAULT_UNREACHABLE: "check that vault {vault} exists and that the app resolves its name (private DNS zone "
                              "when the vault has a private endpoint); retried on the next run",
    Reason.VAULT_DELETED: "recover the vault while it is soft-deleted (`az keyvault recover --name {vault}`); "
                          "registries using its keys cannot reach their data until then",
}

# The fix for a problem that ``doctor`` reports (status and the diagnosis name the problem; docs/troubleshooting.md
# explains it).
PROBLEM_FIX: dict[Problem, str] = {
    Problem.IDENTITY_MISSING: "assign the identity to the registry again (`az acr identity assign --identities "
                              "{identity}`), or move the registry to an identity it has",
    Problem.IDENTITY_WITHOUT_KEY_ACCESS: "grant the registry's identity Key Vault Crypto Service Encryption User on "
                                         "the vault or key (RBAC), or an access policy with get, wrapKey and unwrapKey",
    Problem.KEY_ACCESS_UNKNOWN: "grant the app's identity Reader on the vault so that role assignments and access "
                                "policies can be read",
    Problem.VAULT_FIREWALL_BLOCKS_REGISTRY: "use the registry's system-assigned identity for encryption and allow "
                                            "trusted Microsoft services in vault {vault}'s networking rules",
    Problem.VAULT_WITHOUT_PURGE_PROTECTION: "`az keyvault update --name {vault} --enable-purge-protection true` "
                                            "(it cannot be turned off again)",
    Problem.EVENT_SUBSCRIPTION_MISSING: "run the postdeploy hook again (`azd hooks run postdeploy`), or "
                                        "`azd provision` with CREATE_EVENT_SUBSCRIPTIONS=true",
    Problem.EVENT_TYPES_MISSING: "include {event_types} in the subscription's event types (`az eventgrid "
                                 "system-topic event-subscription update --included-event-types`), or run the "
                                 "postdeploy hook again",
    Problem.DEAD_LETTER_MISSING: "give the subscription a dead-letter container (`az eventgrid system-topic "
                                 "event-subscription update --deadletter-endpoint`), or run the postdeploy hook again",
    Problem.TELEMETRY_NOT_CONFIGURED: "set APPLICATIONINSIGHTS_CONNECTION_STRING to the connection string of the "
                                      "deployment's Application Insights (infra sets it on the app)",
}

KEY_ROLE = {"read": "Key Vault Reader", "create": "Key Vault Crypto Officer",
            "update": "the retirement role (infra/app/rbac-retirement.bicep: keys/read and keys/update/action)"}
KEY_PERMISSIONS = {"read": "get, list", "create": "get, list, rotate", "update": "get, list, update"}


def fix(reason: Finding, **blanks: str) -> str:
    """The fix for ``reason``, its blanks filled (a blank not given stays readable, in braces)."""
    text = PROBLEM_FIX.get(reason, "") if isinstance(reason, Problem) else FIX.get(reason, "")
    for name, value in blanks.items():
        text = text.replace("{" + name + "}", value)
    return text


def role_for(action: str) -> str:
    return ROLE_FOR_ACTION.get(action.lower(), f"a role that allows {action}")
