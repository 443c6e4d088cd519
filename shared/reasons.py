"""Reason and result constants. They are the vocabulary of outcomes, logs, telemetry and HTTP answers."""

from __future__ import annotations

from enum import StrEnum


class Result(StrEnum):
    ROTATED = "rotated"  # moved to a new version and verified
    PLANNED = "planned"  # would have moved; dry run
    UNCHANGED = "unchanged"  # nothing to do
    SKIPPED = "skipped"  # deliberately left alone (opted out, versionless, would downgrade, deferred)
    FAILED = "failed"  # should have moved and could not, or cannot be kept safe


class Trigger(StrEnum):
    EVENT = "event"
    SWEEP = "sweep"
    MANUAL = "manual"


class Reason(StrEnum):
    # Decisions of the planner, in the order its checks run (planner.CHECKS).
    OPTED_OUT = "OPTED_OUT"  # tagged cmk-rotation: off
    VERSIONLESS = "VERSIONLESS"  # versionless key id: ACR follows new versions by itself
    KEY_HOST_NOT_ALLOWED = "KEY_HOST_NOT_ALLOWED"  # key host is not a Key Vault host of the configured cloud
    # ... the key could not be read: who the app is (docs/troubleshooting.md) ...
    NO_CREDENTIAL = "NO_CREDENTIAL"  # DefaultAzureCredential found no credential at all
    MANAGED_IDENTITY_NOT_FOUND = "MANAGED_IDENTITY_NOT_FOUND"  # the managed identity asked for is not on the app
    WRONG_TENANT = "WRONG_TENANT"  # the token is for another tenant than the subscription's or the vault's
    TOKEN_REJECTED = "TOKEN_REJECTED"  # the token was refused (expired, or for another audience)
    CLAIMS_CHALLENGE_FAILED = "CLAIMS_CHALLENGE_FAILED"  # a Conditional Access claims challenge was not satisfied
    # ... what it may read, and whether the key is there ...
    KEY_FORBIDDEN = "KEY_FORBIDDEN"  # our identity may not read the key
    KEY_FORBIDDEN_BY_RBAC = "KEY_FORBIDDEN_BY_RBAC"  # Key Vault RBAC: the app's identity has no data role on the key
    KEY_FORBIDDEN_BY_POLICY = "KEY_FORBIDDEN_BY_POLICY"  # access-policy vault: no policy grants the app the permission
    KEY_FORBIDDEN_BY_FIREWALL = "KEY_FORBIDDEN_BY_FIREWALL"  # the vault's network rules refuse the app's address
    KEY_FORBIDDEN_BY_PRIVATE_LINK = "KEY_FORBIDDEN_BY_PRIVATE_LINK"  # public access off; not via a private endpoint
    KEY_NOT_FOUND = "KEY_NOT_FOUND"  # the key (or its vault) does not exist
    KEY_SOFT_DELETED = "KEY_SOFT_DELETED"  # the key is deleted but recoverable
    VAULT_UNREACHABLE = "VAULT_UNREACHABLE"  # the vault's name does not resolve, and ARM has not said it is gone
    VAULT_DELETED = "VAULT_DELETED"  # ARM confirms the vault is gone (or soft-deleted)
    KEY_UNREADABLE = "KEY_UNREADABLE"  # Key Vault failed for another reason
    TARGET_NOT_USABLE = "TARGET_NOT_USABLE"  # the operator's toVersion is not usable
    NO_USABLE_VERSION = "NO_USABLE_VERSION"  # no version is enabled, valid now, RSA and wrap/unwrap-capable
    UPDATE_IN_PROGRESS = "UPDATE_IN_PROGRESS"  # already updating to the target: someone else is on it
    REGISTRY_BUSY = "REGISTRY_BUSY"  # updating to something else: retry later
    ALREADY_CURRENT = "ALREADY_CURRENT"  # on the newest usable version already
    DOWNGRADE_FORCED = "DOWNGRADE_FORCED"  # operator asked for an older version with allowDowngrade
    WOULD_DOWNGRADE = "WOULD_DOWNGRADE"  # the newest usable version is older than the one in use
    MANUAL_TARGET = "MANUAL_TARGET"  # operator named a newer target version
    NEWER_VERSION_AVAILABLE = "NEWER_VERSION_AVAILABLE"  # move to the newest usable version
    # Outcomes of applying.
    DEFERRED = "DEFERRED"  # out of time budget; left to redelivery or the next sweep
    CANARY_FAILED = "CANARY_FAILED"  # a canary on the same key failed this run: held back, not attempted
    REGISTRY_NOT_FOUND = "REGISTRY_NOT_FOUND"  # deleted before we got to it
    FORBIDDEN = "FORBIDDEN"  # ARM refused our identity
    SUBSCRIPTION_NOT_FOUND = "SUBSCRIPTION_NOT_FOUND"  # ARM does not know the subscription in this tenant
    NO_SUBSCRIPTIONS = "NO_SUBSCRIPTIONS"  # the app's identity sees no subscription at all (no role, or wrong tenant)
    PROVIDER_NOT_REGISTERED = "PROVIDER_NOT_REGISTERED"  # the subscription is not registered for a namespace
    UPDATE_REJECTED = "UPDATE_REJECTED"  # ACR refused the update (e.g. its identity cannot use the key)
    UPDATE_FAILED = "UPDATE_FAILED"  # the long-running update ended Failed
    THROTTLED = "THROTTLED"  # ARM kept answering 429 past our retries
    SERVICE_ERROR = "SERVICE_ERROR"  # 5xx or connection trouble past our retries
    VERIFICATION_FAILED = "VERIFICATION_FAILED"  # after the update, the registry does not use the target
    KEY_ROTATION_FAILED = "KEY_ROTATION_FAILED"  # auto-rotate could not create a new key version
    # The opt-in queue (ROTATION_QUEUE_NAME).
    QUEUED = "QUEUED"  # handed to the rotation queue; apply_rotation records what happened
    QUEUE_UNAVAILABLE = "QUEUE_UNAVAILABLE"  # the rotation queue refused the message
    RETRIES_EXHAUSTED = "RETRIES_EXHAUSTED"  # the message failed on every delivery the host allows
    # Retirement of superseded key versions (docs/retirement.md): run problems it raises.
    RETIRE_TAG_INVALID = "RETIRE_TAG_INVALID"  # cmk-rotation-retire-after-days is not a whole number >= the floor
    RETIREMENT_REVERTED = "RETIREMENT_REVERTED"  # critical: a registry showed a version just disabled; re-enabled


class Problem(StrEnum):
    """What a status report or a sweep's diagnosis finds wrong with a registry, beyond the planner's own reasons.

    A registry's problems are ``Finding``s: the planner's reason when its decision is a failure (KEY_FORBIDDEN,
    NO_USABLE_VERSION, REGISTRY_BUSY, ...), and these. Unlike a Reason, a Problem decides nothing: it is reported so
    that people can act on it.
    """

    IDENTITY_MISSING = "IDENTITY_MISSING"  # the identity named in encryption is not assigned to the registry
    KEY_VERSION_NOT_FOUND = "KEY_VERSION_NOT_FOUND"  # the version in use is not among the key's versions
    KEY_VERSION_DISABLED = "KEY_VERSION_DISABLED"  # the version in use is disabled: the registry's data is at risk
    KEY_VERSION_EXPIRED = "KEY_VERSION_EXPIRED"  # the version in use has expired
    KEY_VERSION_NEAR_EXPIRY = "KEY_VERSION_NEAR_EXPIRY"  # ... expires within ROTATION_NEAR_EXPIRY_DAYS
    BEHIND_NEWEST_VERSION = "BEHIND_NEWEST_VERSION"  # pinned, and the planner would move it to a newer version
    VERSIONLESS_LAGGING = "VERSIONLESS_LAGGING"  # versionless, yet not on the newest version long after it appeared
    # Found only by a sweep's diagnosis, from the vault's configuration (best-effort, never blocks a rotation).
    KEY_TYPE_UNSUPPORTED = "KEY_TYPE_UNSUPPORTED"  # the key's current version is not RSA
    IDENTITY_WITHOUT_KEY_ACCESS = "IDENTITY_WITHOUT_KEY_ACCESS"  # the registry's identity cannot wrap/unwrap
    KEY_ACCESS_UNKNOWN = "KEY_ACCESS_UNKNOWN"  # the vault or its role assignments could not be read
    # The vault takes public traffic only from trusted services, and the registry is not one: its encryption identity
    # is user-assigned (only a system-assigned one counts), or the vault does not let trusted services through.
    VAULT_FIREWALL_BLOCKS_REGISTRY = "VAULT_FIREWALL_BLOCKS_REGISTRY"
    VAULT_WITHOUT_PURGE_PROTECTION = "VAULT_WITHOUT_PURGE_PROTECTION"  # a deleted key could be purged at once
    # Found only by ``doctor`` (shared/doctor.py), about the deployment rather than one registry.
    EVENT_SUBSCRIPTION_MISSING = "EVENT_SUBSCRIPTION_MISSING"  # no system topic subscription to this on_key_event
    EVENT_TYPES_MISSING = "EVENT_TYPES_MISSING"  # the subscription leaves out a key event the app acts on
    DEAD_LETTER_MISSING = "DEAD_LETTER_MISSING"  # undeliverable key events would be dropped after a day, unseen
    TELEMETRY_NOT_CONFIGURED = "TELEMETRY_NOT_CONFIGURED"  # no Application Insights: no outcome, no alert


class RetireCheck(StrEnum):
    """Retirement's named checks (``shared/retirement.py``), in the order they run. Each is evidence in a plan; a
    version is retired only when every one passes. The first eight are about the key, the rest about the version."""

    OPTED_IN = "OPTED_IN"  # the key carries cmk-rotation-retire-after-days, a whole number of days >= the floor
    NOT_MANAGED_HSM = "NOT_MANAGED_HSM"  # Managed HSM keys are never retired
    KEY_READ = "KEY_READ"  # the key's versions were read this run, and a newest usable version exists
    RUN_CLEAN = "RUN_CLEAN"  # every subscription was listed and the run had no problem
    UNWRAPPERS_KNOWN = "UNWRAPPERS_KNOWN"  # every principal that can unwrap is a registry's encryption identity
    NO_REGISTRY_BUSY = "NO_REGISTRY_BUSY"  # no registry on the key is updating, creating or deleting
    REGISTRIES_SETTLED = "REGISTRIES_SETTLED"  # every registry on the key last rotated at least N days ago
    NEWEST_IN_SERVICE = "NEWEST_IN_SERVICE"  # a registry has been on the newest usable version for N days
    OLDER_THAN_NEWEST_USABLE = "OLDER_THAN_NEWEST_USABLE"  # neither the newest usable version nor newer than it
    NOT_CURRENT = "NOT_CURRENT"  # not Key Vault's current version
    NOT_IN_USE = "NOT_IN_USE"  # no registry in any subscription shows it in keyIdentifier or versionedKeyIdentifier
    SUCCESSOR_AGED = "SUCCESSOR_AGED"  # the version created after it is at least N days old


class RetireResult(StrEnum):
    """What happened to one candidate version: the ``result`` of a ``KeyVersionRetired`` event."""

    WOULD_RETIRE = "would_retire"  # every check passed; not applied (plan, ROTATION_RETIRE=plan, dry run)
    BLOCKED = "blocked"  # a check failed: left enabled
    RETIRED = "retired"  # disabled, and the reads after it showed no registry on it
    CHANGED = "changed"  # the re-read under the lock found a registry on it, or a read failed: left enabled
    REVERTED = "reverted"  # a registry showed it after disabling: re-enabled at once (critical)
    RESTORED = "restored"  # re-enabled by ``retire --undo``
    FAILED = "failed"  # Key Vault refused or failed the write


# Failures that are about the app's own identity, not about any one registry: the CLI exits 3 for them, and a
# run reports each once.
KEY_READ_FAILURES = (  # why a key could not be read, in the planner's order (planner.key_unreadable)
    Reason.NO_CREDENTIAL, Reason.MANAGED_IDENTITY_NOT_FOUND, Reason.WRONG_TENANT, Reason.TOKEN_REJECTED,
    Reason.CLAIMS_CHALLENGE_FAILED, Reason.KEY_FORBIDDEN, Reason.KEY_FORBIDDEN_BY_RBAC, Reason.KEY_FORBIDDEN_BY_POLICY,
    Reason.KEY_FORBIDDEN_BY_FIREWALL, Reason.KEY_FORBIDDEN_BY_PRIVATE_LINK, Reason.KEY_NOT_FOUND,
    Reason.KEY_SOFT_DELETED, Reason.VAULT_UNREACHABLE, Reason.VAULT_DELETED, Reason.KEY_UNREADABLE,
)
AUTHENTICATION_REASONS = frozenset({Reason.NO_CREDENTIAL, Reason.MANAGED_IDENTITY_NOT_FOUND, Reason.WRONG_TENANT,
                                    Reason.TOKEN_REJECTED, Reason.CLAIMS_CHALLENGE_FAILED})

Finding = Reason | Problem  # one entry of a registry's problems: one vocabulary, never converted by value
