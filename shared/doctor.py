"""``doctor``: is this deployment ready for its first rotation? Pure: small named checks over gathered facts.

``doctor_gather.py`` reads the facts (never writing anything); each check here turns some of them into PASS, WARN
or FAIL, with the reason constant and the one-sentence fix of ``shared.troubleshooting``. The checks run in the
order an operator would fix things: settings, credential, ARM, each vault, each pinned registry, Event Grid,
Application Insights. A check that cannot be judged because an earlier one failed is not reported.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.errors import ConfigurationError
from shared.model import VaultAccess
from shared.reasons import AUTHENTICATION_REASONS, Finding, Problem, Reason
from shared.retirement_access import may_disable_versions
from shared.troubleshooting import KEY_PERMISSIONS, KEY_ROLE, fix

KEY_EVENTS = ("Microsoft.KeyVault.KeyNewVersionCreated", "Microsoft.KeyVault.KeyNearExpiry",
              "Microsoft.KeyVault.KeyExpired")
FUNCTION = "on_key_event"
CREATE_DATA_ACTION = "Microsoft.KeyVault/vaults/keys/rotate/action"  # what KeyClient.rotate_key needs
NETWORK_REASONS = frozenset({Reason.KEY_FORBIDDEN_BY_FIREWALL, Reason.KEY_FORBIDDEN_BY_PRIVATE_LINK,
                             Reason.VAULT_UNREACHABLE, Reason.SERVICE_ERROR})
REGISTRY_FAILS = (Problem.IDENTITY_MISSING, Problem.IDENTITY_WITHOUT_KEY_ACCESS, Problem.VAULT_FIREWALL_BLOCKS_REGISTRY)
DOCTOR_SETTINGS = ("EVENTGRID_SYSTEM_TOPIC_IDS",)  # read by doctor only; infra sets it on the app
TOPIC_ID = re.compile(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.EventGrid/systemTopics/[^/]+$",
                      re.IGNORECASE)
# Exit codes (README, "Exit codes"): the CLI's own, for doctor's outcomes.
OK, FAILED, BAD_SETTINGS, NOT_AUTHENTICATED = 0, 1, 2, 3


class Status(StrEnum):
    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    name: str  # what was checked, e.g. "vault kv-acr-demo: keys readable"
    status: Status
    detail: str
    reason: Finding | None = None
    fix: str = ""
    ran_from: str = ""  # set on network checks: where the request left from

    def to_dict(self) -> dict[str, Any]:
        out = {"check": self.name, "status": self.status.value, "reason": self.reason.value if self.reason else None,
               "detail": self.detail, "fix": self.fix}
        return {**out, "ranFrom": self.ran_from} if self.ran_from else out


# --- facts, as gathered ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Failure:
    """A failed read, as the adapters translated it (the detail ends with its fix when there is one)."""

    reason: Reason
    detail: str


@dataclass(frozen=True)
class Identity:
    credential: str  # which credential of DefaultAzureCredential's chain gave the token ("" if not logged)
    tenant_id: str
    object_id: str
    app_id: str = ""


@dataclass(frozen=True)
class Delivery:
    """One event subscription on a system topic."""

    name: str
    function_id: str  # an AzureFunction destination's resource id ("" for other destinations)
    event_types: tuple[str, ...] | None  # None: every event type of the topic
    dead_letter: bool


@dataclass(frozen=True)
class Topic:
    id: str
    deliveries: tuple[Delivery, ...] = ()


@dataclass(frozen=True)
class Permissions:
    """One entry of ARM's effective permissions (Microsoft.Authorization/permissions) for the caller."""

    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class VaultFacts:
    name: str
    access: VaultAccess | None = None  # ARM's view of the vault; None when no readable subscription lists it
    key_failures: tuple[Failure, ...] = ()  # the keys in use that could not be read, and why
    keys: tuple[str, ...] = ()  # names of the keys in use
    permissions: tuple[Permissions, ...] | Failure | None = None  # RBAC vaults, with auto-rotation or retirement
    topic: Topic | Failure | None = None  # None: the vault has no system topic


@dataclass(frozen=True)
class RegistryFacts:
    name: str
    vault: str
    findings: tuple[Finding, ...]
    identity: str = ""  # the encryption identity's client id, or "system"


@dataclass(frozen=True)
class Facts:
    ran_from: str  # "the deployed app <name>" or "the operator's machine <host>"
    in_app: bool
    settings_error: str = ""
    auto_rotate: bool = False
    retire: bool = False  # ROTATION_RETIRE=auto: the sweep disables superseded versions
    identity: Identity | Failure | None = None
    subscriptions: tuple[str, ...] | Failure | None = None
    wanted_subscriptions: tuple[str, ...] = ()  # ROTATION_SUBSCRIPTION_IDS
    listing: tuple[Failure, ...] = ()  # registries that could not be listed (a subscription, a resource group)
    vaults: tuple[VaultFacts, ...] = ()
    registries: tuple[RegistryFacts, ...] = ()
    app_name: str = ""  # the function app whose on_key_event the subscriptions must deliver to
    telemetry: str = ""  # APPLICATIONINSIGHTS_CONNECTION_STRING


def ran_from(env: Mapping[str, str], hostname: str) -> tuple[str, bool]:
    """Where doctor runs: in the deployed app (the Functions host sets WEBSITE_SITE_NAME) or on a machine."""
    site = env.get("WEBSITE_SITE_NAME", "").strip()
    if site and env.get("FUNCTIONS_WORKER_RUNTIME"):
        return f"the deployed app {site} (its own network: its VNet when integrated)", True
    return f"the operator's machine {hostname} (its own network, not the app's)", False


def topic_ids(raw: str) -> tuple[str, ...]:
    """EVENTGRID_SYSTEM_TOPIC_IDS: the system topics infra made or reused, comma-separated (may be empty)."""
    ids = tuple(t.strip() for t in raw.split(",") if t.strip())
    for topic in ids:
        if not TOPIC_ID.match(topic):
            raise ConfigurationError(f"EVENTGRID_SYSTEM_TOPIC_IDS: {topic!r} is not a system topic's resource id")
    return ids


# --- the checks ---------------------------------------------------------------------------------------------

def _failed(name: str, failure: Failure, status: Status = Status.FAIL, ran_from: str = "") -> Check:
    detail, _, remedy = failure.detail.partition(". Fix: ")
    return Check(name, status, detail, failure.reason, remedy, ran_from)


def settings_check(facts: Facts) -> Check:
    if facts.settings_error:
        return Check("settings", Status.FAIL, facts.settings_error, fix="correct the app setting named above")
    return Check("settings", Status.PASS, "every ROTATION_* setting is valid")


def credential_check(facts: Facts) -> Check:
    who = facts.identity
    if isinstance(who, Failure) or who is None:
        return _failed("credential", who or Failure(Reason.NO_CREDENTIAL, "no token was asked for"))
    source = f"from {who.credential}" if who.credential else "from DefaultAzureCredential (its source not logged)"
    app = f", application {who.app_id}" if who.app_id else ""
    return Check("credential", Status.PASS, f"a token {source}: tenant {who.tenant_id}, object id {who.object_id}{app}")


def arm_check(facts: Facts) -> Check:
    listed = facts.subscriptions
    if isinstance(listed, Failure) or listed is None:
        return _failed("ARM: subscriptions listable", listed or Failure(Reason.SERVICE_ERROR, "not read"),
                       ran_from=facts.ran_from)
    if facts.listing:
        return _failed("ARM: subscriptions listable", facts.listing[0], ran_from=facts.ran_from)
    missing = sorted({s.lower() for s in facts.wanted_subscriptions} - {s.lower() for s in listed})
    if missing:
        return Check("ARM: subscriptions listable", Status.FAIL, f"not visible to this identity: {', '.join(missing)}",
                     Reason.SUBSCRIPTION_NOT_FOUND, fix(Reason.SUBSCRIPTION_NOT_FOUND, subscription=missing[0]),
                     facts.ran_from)
    return Check("ARM: subscriptions listable", Status.PASS, f"{len(listed)} subscription(s) listed",
                 ran_from=facts.ran_from)


def reachable_check(vault: VaultFacts, facts: Facts) -> Check:
    name = f"vault {vault.name}: reachable through its network rules"
    blocked = [f for f in vault.key_failures if f.reason in NETWORK_REASONS]
    if blocked:
        return _failed(name, blocked[0], ran_from=facts.ran_from)
    rules = vault.access.public_network if vault.access else "unknown"
    if rules != "open" and not facts.in_app:
        return Check(name, Status.WARN, f"reachable from here, but the vault's public access is {rules}: the app's "
                     "own address may not be allowed", fix="run doctor in the deployed app too (GET /api/doctor)",
                     ran_from=facts.ran_from)
    return Check(name, Status.PASS, f"keys read (public access: {rules})", ran_from=facts.ran_from)


def readable_check(vault: VaultFacts) -> Check:
    name = f"vault {vault.name}: keys readable by the app"
    failed = [f for f in vault.key_failures if f.reason not in NETWORK_REASONS]
    if failed:
        return _failed(name, failed[0])
    return Check(name, Status.PASS, f"{len(vault.keys)} key(s) in use read: {', '.join(vault.keys)}")


def allows(entries: Sequence[Permissions], data_action: str) -> bool:
    """Azure RBAC's rule: some entry's dataActions match and none of that entry's notDataActions do."""
    def match(patterns: Sequence[str]) -> bool:
        return any(fnmatch.fnmatchcase(data_action.lower(), p.lower()) for p in patterns)
    return any(match(e.data_actions) and not match(e.not_data_actions) for e in entries)


def creatable_check(vault: VaultFacts, facts: Facts) -> Check:
    """Judged without creating anything: ARM's effective permissions (group grants included) on an RBAC vault,
    the app's own access policy on an access-policy vault."""
    name, access, who = f"vault {vault.name}: new key versions creatable (auto-rotation)", vault.access, facts.identity
    if access is None or not isinstance(who, Identity):
        return Check(name, Status.WARN, "the vault's configuration could not be read", Problem.KEY_ACCESS_UNKNOWN,
                     fix(Problem.KEY_ACCESS_UNKNOWN))
    if not access.rbac:
        granted = access.policies.get(who.object_id.lower(), frozenset())
        ok, reason = "rotate" in granted, Reason.KEY_FORBIDDEN_BY_POLICY
    elif isinstance(vault.permissions, Failure) or vault.permissions is None:
        return _failed(name, vault.permissions or Failure(Reason.KEY_FORBIDDEN, "not read"), Status.WARN)
    else:
        ok, reason = allows(vault.permissions, CREATE_DATA_ACTION), Reason.KEY_FORBIDDEN_BY_RBAC
    if ok:
        return Check(name, Status.PASS, "the app's identity may rotate keys (nothing was created)")
    return Check(name, Status.FAIL, f"the app's identity may not rotate keys in {vault.name}", reason,
                 fix(reason, vault=vault.name, key_role=KEY_ROLE["create"], key_permissions=KEY_PERMISSIONS["create"]))


def retirable_check(vault: VaultFacts, facts: Facts) -> Check:
    """With ROTATION_RETIRE=auto: may the app disable versions here (keys/read and keys/update/action, or an access
    policy with get and update)? Judged as retirement judges it (``retirement_access``), writing nothing."""
    name = f"vault {vault.name}: superseded versions can be disabled (retirement)"
    who = facts.identity.object_id if isinstance(facts.identity, Identity) else None
    if vault.access is None:
        return Check(name, Status.WARN, "the vault's configuration could not be read", Problem.KEY_ACCESS_UNKNOWN,
                     fix(Problem.KEY_ACCESS_UNKNOWN))
    effective = vault.permissions if isinstance(vault.permissions, tuple) else None
    verdict = may_disable_versions(vault.access, effective, who)
    if verdict.allowed:
        return Check(name, Status.PASS, verdict.detail)
    reason = Reason.KEY_FORBIDDEN_BY_RBAC if vault.access.rbac else Reason.KEY_FORBIDDEN_BY_POLICY
    return Check(name, Status.FAIL if verdict.allowed is False else Status.WARN, verdict.detail, reason,
                 fix(reason, vault=vault.name, key_role=KEY_ROLE["update"], key_permissions=KEY_PERMISSIONS["update"]))


def recovery_check(vault: VaultFacts) -> Check:
    """Soft delete is on for every vault (it can no longer be turned off); purge protection is a choice."""
    name = f"vault {vault.name}: soft delete and purge protection"
    if vault.access is None:
        return Check(name, Status.WARN, "the vault's configuration could not be read", Problem.KEY_ACCESS_UNKNOWN,
                     fix(Problem.KEY_ACCESS_UNKNOWN))
    if not vault.access.purge_protection:
        return Check(name, Status.WARN, "purge protection is off: a deleted key could be purged at once, and with "
                     "it the registries' data", Problem.VAULT_WITHOUT_PURGE_PROTECTION,
                     fix(Problem.VAULT_WITHOUT_PURGE_PROTECTION, vault=vault.name))
    return Check(name, Status.PASS, "soft delete and purge protection are on")


def registry_check(registry: RegistryFacts) -> Check:
    """Reuses the diagnosis: the registry's identity exists and may wrap and unwrap with the key."""
    name = f"registry {registry.name}: identity and key access"
    blanks = {"identity": registry.identity, "vault": registry.vault}
    for problem in REGISTRY_FAILS:
        if problem in registry.findings:
            return Check(name, Status.FAIL, f"{problem.value} (vault {registry.vault})", problem,
                         fix(problem, **blanks))
    if Problem.KEY_ACCESS_UNKNOWN in registry.findings:
        return Check(name, Status.WARN, "the vault's role assignments or access policies could not be read",
                     Problem.KEY_ACCESS_UNKNOWN, fix(Problem.KEY_ACCESS_UNKNOWN))
    return Check(name, Status.PASS, f"identity {registry.identity} is assigned and may use the key")


def is_this_app(delivery: Delivery, app_name: str) -> bool:
    target = delivery.function_id.lower().rstrip("/")
    if not target.endswith(f"/functions/{FUNCTION}"):
        return False
    return not app_name or f"/providers/microsoft.web/sites/{app_name.lower()}/functions/" in target


def event_grid_check(vault: VaultFacts, facts: Facts) -> Check:
    name = f"vault {vault.name}: Event Grid delivers key events to {FUNCTION}"
    if vault.access is None:  # the vault's id is unknown: its topic was not looked for
        return Check(name, Status.WARN, "the vault is in no subscription the app can read: its system topic was not "
                     "looked for", Problem.KEY_ACCESS_UNKNOWN, fix(Problem.KEY_ACCESS_UNKNOWN))
    if isinstance(vault.topic, Failure):
        return _failed(name, vault.topic, Status.WARN)  # the app may not read the topic: the grant is missing
    ours = [d for d in vault.topic.deliveries if is_this_app(d, facts.app_name)] if vault.topic else []
    if not ours:
        where = f"system topic {vault.topic.id.rsplit('/', 1)[-1]}" if vault.topic else "no system topic"
        return Check(name, Status.FAIL, f"{where}: no subscription delivers to {facts.app_name or 'an app'}'s "
                     f"{FUNCTION}", Problem.EVENT_SUBSCRIPTION_MISSING, fix(Problem.EVENT_SUBSCRIPTION_MISSING))
    return delivery_check(name, max(ours, key=lambda d: (d.event_types is None or set(KEY_EVENTS) <= set(
        d.event_types), d.dead_letter)), facts.app_name)


def delivery_check(name: str, delivery: Delivery, app_name: str) -> Check:
    wanted = {e.lower() for e in KEY_EVENTS}
    missing = [e for e in KEY_EVENTS if delivery.event_types is not None
               and e.lower() in wanted - {t.lower() for t in delivery.event_types}]
    if missing:
        return Check(name, Status.FAIL, f"subscription {delivery.name} leaves out {', '.join(missing)}",
                     Problem.EVENT_TYPES_MISSING, fix(Problem.EVENT_TYPES_MISSING, event_types=", ".join(missing)))
    if not delivery.dead_letter:
        return Check(name, Status.WARN, f"subscription {delivery.name} has no dead-letter destination",
                     Problem.DEAD_LETTER_MISSING, fix(Problem.DEAD_LETTER_MISSING))
    unnamed = "" if app_name else " (the app was not named: pass --app NAME to tell it from another deployment's)"
    return Check(name, Status.PASS if app_name else Status.WARN,
                 f"subscription {delivery.name}: the three key events, with a dead-letter destination{unnamed}")


def telemetry_check(facts: Facts) -> Check:
    fields = {k.strip().lower() for k, _, v in (p.partition("=") for p in facts.telemetry.split(";")) if v.strip()}
    if {"instrumentationkey", "ingestionendpoint"} <= fields:
        return Check("Application Insights", Status.PASS, "APPLICATIONINSIGHTS_CONNECTION_STRING is set")
    where = "the deployed app" if facts.in_app else "this machine (GET /api/doctor checks the app's own)"
    return Check("Application Insights", Status.FAIL if facts.in_app else Status.WARN,
                 f"no Application Insights connection string in {where}", Problem.TELEMETRY_NOT_CONFIGURED,
                 fix(Problem.TELEMETRY_NOT_CONFIGURED))


# --- the report ---------------------------------------------------------------------------------------------

def vault_checks(vault: VaultFacts, facts: Facts) -> list[Check]:
    reached = reachable_check(vault, facts)
    if reached.status == Status.FAIL:
        return [reached]  # keys could not be read from here: readability is not judged
    found = [reached, readable_check(vault)]
    if facts.auto_rotate:
        found.append(creatable_check(vault, facts))
    if facts.retire:
        found.append(retirable_check(vault, facts))
    return [*found, recovery_check(vault)]


def _stops(check: Check) -> bool:
    return check.status == Status.FAIL


def checks(facts: Facts) -> list[Check]:
    """In order; settings, credential and ARM each stop the rest when they fail (nothing else can be read)."""
    found: list[Check] = []
    steps: Sequence[Callable[[Facts], Check]] = (settings_check, credential_check, arm_check)
    for step in steps:
        found.append(step(facts))
        if _stops(found[-1]):
            return found
    for vault in facts.vaults:
        found += vault_checks(vault, facts)
    found += [registry_check(r) for r in facts.registries]
    found += [event_grid_check(v, facts) for v in facts.vaults]
    return [*found, telemetry_check(facts)]


@dataclass(frozen=True)
class DoctorReport:
    ran_from: str
    checks: tuple[Check, ...] = field(default_factory=tuple)

    def counts(self) -> dict[str, int]:
        return {s.value: sum(c.status == s for c in self.checks) for s in Status}

    def to_dict(self) -> dict[str, Any]:
        return {"ranFrom": self.ran_from, "counts": self.counts(), "checks": [c.to_dict() for c in self.checks]}


def report(facts: Facts) -> DoctorReport:
    return DoctorReport(facts.ran_from, tuple(checks(facts)))


def exit_code(doctor: DoctorReport) -> int:
    """0 no FAIL; 1 a FAIL; 2 the settings are invalid; 3 no credential (or it was refused)."""
    failed = [c for c in doctor.checks if c.status == Status.FAIL]
    if any(c.name == "settings" for c in failed):
        return BAD_SETTINGS
    if any(c.reason in AUTHENTICATION_REASONS for c in failed):
        return NOT_AUTHENTICATED
    return FAILED if failed else OK
