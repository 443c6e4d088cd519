"""Retirement of superseded key versions, planned: pure. Facts read in one run go in, a plan comes out.

A key opts in with the tag ``cmk-rotation-retire-after-days: N`` (the key owner's statement that only ACR
registries use the key, and how long a superseded version stays enabled). A version is retired (disabled, never
deleted) only when every named check below passes; each check is evidence with a constant reason
(``RetireCheck``). Where the facts do not settle a question, the check fails: this module errs on the side of not
disabling. ``shared/retirement_apply.py`` applies a plan; ``docs/retirement.md`` is the operator's page.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from shared.keyids import KeyRef
from shared.model import KeyObservation, KeyVersion, Registry
from shared.outcomes import RunProblem
from shared.reasons import Reason, RetireCheck
from shared.versions import is_newer, newest_usable_version

RETIRE_TAG = "cmk-rotation-retire-after-days"
FLOOR_DAYS = 7  # the least waiting period a key owner may choose
CEILING_DAYS = 36500  # beyond this a value is a typo, not a policy (and would overflow a date)
KEY_CHECKS = (RetireCheck.OPTED_IN, RetireCheck.NOT_MANAGED_HSM, RetireCheck.KEY_READ, RetireCheck.RUN_CLEAN,
              RetireCheck.UNWRAPPERS_KNOWN, RetireCheck.NO_REGISTRY_BUSY, RetireCheck.REGISTRIES_SETTLED,
              RetireCheck.NEWEST_IN_SERVICE)
VERSION_CHECKS = (RetireCheck.OLDER_THAN_NEWEST_USABLE, RetireCheck.NOT_CURRENT, RetireCheck.NOT_IN_USE,
                  RetireCheck.SUCCESSOR_AGED)


# --- Facts ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unwrappers:
    """Who can unwrap with a key, as read this run: principal object ids, and what could not be settled (a group,
    an assignment list that could not be read, an application-bound access policy), in words. Either kind of
    entry in ``unsettled`` blocks retirement of the key."""

    principals: frozenset[str] = frozenset()
    unsettled: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeyFacts:
    observation: KeyObservation
    tags: Mapping[str, str] | None  # the tags of the key (its current version); None when they could not be read
    unwrappers: Unwrappers = Unwrappers(unsettled=("not read",))


@dataclass(frozen=True)
class Estate:
    """Everything one retirement run read: every CMK registry of every subscription the identity can list (ARM's
    per-subscription listing, whatever the discovery setting), the opted-in keys, and what blocks every key
    (a subscription not listed, any run problem), in words."""

    registries: tuple[Registry, ...]
    keys: Mapping[KeyRef, KeyFacts]
    blockers: tuple[str, ...]
    now: datetime


# --- The plan ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Evidence:
    check: RetireCheck
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check.value, "passed": self.passed, "detail": self.detail}


@dataclass(frozen=True)
class Candidate:
    """One enabled version of an opted-in key, with the evidence of every check."""

    key: KeyRef
    version: str
    evidence: tuple[Evidence, ...]
    days: int = 0  # the key's cmk-rotation-retire-after-days

    @property
    def eligible(self) -> bool:
        return bool(self.evidence) and all(e.passed for e in self.evidence)

    @property
    def failed(self) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if not e.passed)

    @property
    def uri(self) -> str:
        return self.key.uri(self.version)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key.uri(), "version": self.version, "eligible": self.eligible,
                "evidence": [e.to_dict() for e in self.evidence]}


@dataclass(frozen=True)
class RetirementPlan:
    candidates: tuple[Candidate, ...] = ()
    keys: Mapping[KeyRef, tuple[Evidence, ...]] = field(default_factory=lambda: MappingProxyType({}))
    problems: tuple[RunProblem, ...] = ()

    @property
    def eligible(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.eligible)

    @property
    def digest(self) -> str:
        """The plan hash: what would be disabled, and nothing else (evidence ages by the minute)."""
        return plan_hash(c.uri for c in self.eligible)

    def to_dict(self) -> dict[str, Any]:
        return {"planHash": self.digest, "retire": [c.uri for c in self.eligible],
                "candidates": [c.to_dict() for c in self.candidates],
                "keys": {key.uri(): [e.to_dict() for e in evidence] for key, evidence in self.keys.items()},
                "problems": [p.to_dict() for p in self.problems]}


def plan_hash(uris: Any) -> str:
    return hashlib.sha256("\n".join(sorted(u.lower() for u in uris)).encode()).hexdigest()[:16]


def difference(before: Sequence[str], plan: RetirementPlan) -> list[str]:
    """What changed between an earlier plan's versions to retire and this one's, one line each."""
    now = {c.uri.lower(): c for c in plan.eligible}
    earlier = {u.lower() for u in before}
    lines = [f"+ {uri} (now eligible)" for uri in sorted(now.keys() - earlier)]
    by_uri = {c.uri.lower(): c for c in plan.candidates}
    for uri in sorted(earlier - now.keys()):
        failed = by_uri[uri].failed if uri in by_uri else ()
        why = "; ".join(f"{e.check.value}: {e.detail}" for e in failed) or "no longer a candidate"
        lines.append(f"- {uri} ({why})")
    return lines


def retire_after_days(tags: Mapping[str, str] | None) -> tuple[int | None, str]:
    """(N, "") for a valid tag; (None, "") without one; (None, why) for a value that is not a whole number of days
    between the floor and the ceiling."""
    for name, value in (tags or {}).items():
        if name.strip().lower() == RETIRE_TAG:
            raw = str(value).strip()
            if not (raw.isascii() and raw.isdigit()) or not FLOOR_DAYS <= int(raw) <= CEILING_DAYS:
                return None, (f"tag {RETIRE_TAG}={raw!r} is not a whole number of days from {FLOOR_DAYS} to "
                              f"{CEILING_DAYS}; the key's versions are not retired until it is")
            return int(raw), ""
    return None, ""


def plan_retirement(estate: Estate) -> RetirementPlan:
    candidates: list[Candidate] = []
    keys: dict[KeyRef, tuple[Evidence, ...]] = {}
    problems: list[RunProblem] = []
    for ref in sorted(estate.keys, key=str):
        facts = estate.keys[ref]
        days, bad = retire_after_days(facts.tags)
        if bad:
            problems.append(RunProblem(str(ref), Reason.RETIRE_TAG_INVALID, False, f"key {ref}: {bad}"))
        if days is None:
            continue
        key_evidence = tuple(check(ref, facts, estate, days) for check in _KEY_CHECKS)
        keys[ref] = key_evidence
        for version in facts.observation.versions:
            if version.enabled:
                own = version_evidence(facts.observation, version, estate, days)
                candidates.append(Candidate(ref, version.version, key_evidence + own, days))
    return RetirementPlan(tuple(candidates), MappingProxyType(keys), tuple(problems))


# --- Key checks: each answers one question about the key, with its evidence ----------------------------

def on_key(estate: Estate, ref: KeyRef) -> list[Registry]:
    """Registries whose keyIdentifier or versionedKeyIdentifier is on this key, in any subscription."""
    return [r for r in estate.registries if (r.key_id is not None and r.key_id.key == ref)
            or (r.versioned_key_id is not None and r.versioned_key_id.key == ref)]


def _opted_in(ref: KeyRef, facts: KeyFacts, estate: Estate, days: int) -> Evidence:
    return Evidence(RetireCheck.OPTED_IN, True, f"{RETIRE_TAG}={days}")


def _not_managed_hsm(ref: KeyRef, facts: KeyFacts, estate: Estate, days: int) -> Evidence:
    hsm = ".managedhsm." in ref.host
    return Evidence(RetireCheck.NOT_MANAGED_HSM, not hsm,
                    "a Managed HSM key: never retired" if hsm else "a Key Vault key")


def _key_read(ref: KeyRef, facts: KeyFacts, estate: Estate, days: int) -> Evidence:
    observation = facts.observation
    if observation.error is not None:
        return Evidence(RetireCheck.KEY_READ, False, f"{observation.error.value}: {observation.error_detail}")
    undated = [v.version for v in observation.versions if v.created_on.timestamp() <= 0]
    if undated:  # an unknown creation time would make a version look oldest, and its successor look old
        return Evidence(RetireCheck.KEY_READ, False, f"creation time of {', '.join(undated)} not known")
    newest = newest_usable_version(observation, estate.now)
    if newest is None:
        return Evidence(RetireCheck.KEY_READ, False, "no usable version: nothing is superseded")
    return Evidence(RetireCheck.KEY_READ, True, f"{len(observation.versions)} versions; newest usable "
                    f"{newest.version}, current {observation.current_version}")


def _run_clean(ref: KeyRef, facts: KeyFacts, estate: Estate, days: int) -> Evidence:
    if estate.blockers:
        return Evidence(RetireCheck.RUN_CLEAN, False, "; ".join(estate.blockers))
    return Evidence(RetireCheck.RUN_CLEAN, True, "every subscription listed; no run problem")


def _unwrappers_known(ref: KeyRef, facts: KeyFacts, estate: Estate, days: int) -> Evidence:
    known = {p.lower() for r in estate.registries if (p := r.encryption_principal_id)}
    others = sorted(p for p in facts.unwrappers.principals if p.lower() not in known)
    if facts.unwrappers.unsettled or others:
        said = list(facts.unwrappers.unsettled) + [f"principal {p} is no registry's encryption identity"
                                                   for p in others]
        return Evidence(RetireCheck.UNWRAPPERS_KNOWN, False, "; ".join(said))
    return Evidence(RetireCheck.UNWRAPPERS_KNOWN, True, f"{len(facts.unwrappers.principals)} principals can "
                    "unwrap, each a registry's encryption identity")


def _no_registry_busy(ref: KeyRef, facts: KeyFacts, estate: Estate, days: int) -> Evidence:
    busy = [f"{r.name} is {r.provisioning_state}" for r in on_key(estate, ref) if r.busy]
    return Evidence(RetireCheck.NO_REGISTRY_BUSY, not busy, "; ".join(busy) or "none updating")


def _registries_settled(ref: KeyRef, facts: KeyFacts, estate: Estate, days: int) -> Evidence:
    since = estate.now - timedelta(days=days)
    registries = on_key(estate, ref)
    young = [f"{r.name} rotated {_when(r.last_key_rotation)}" for r in registries
             if r.last_key_rotation is None or r.last_key_rotation > since]
    if young:
        return Evidence(RetireCheck.REGISTRIES_SETTLED, False, f"under {days} days: " + "; ".join(young))
    return Evidence(RetireCheck.REGISTRIES_SETTLED, bool(registries),
                    f"{len(registries)} registries, each last rotated over {days} days ago" if registries
                    else "no registry uses the key")


def _newest_in_service(ref: KeyRef, facts: KeyFacts, estate: Estate, days: int) -> Evidence:
    newest = newest_usable_version(facts.observation, estate.now)
    since = estate.now - timedelta(days=days)
    on_newest = [r for r in on_key(estate, ref) if newest is not None and r.versioned_key_id is not None
                 and r.versioned_key_id.version == newest.version]
    settled = [r.name for r in on_newest if r.last_key_rotation is not None and r.last_key_rotation <= since]
    if settled:
        return Evidence(RetireCheck.NEWEST_IN_SERVICE, True, f"{settled[0]} on it for over {days} days")
    return Evidence(RetireCheck.NEWEST_IN_SERVICE, False, f"{len(on_newest)} registries on the newest usable "
                    f"version, none for {days} days by lastKeyRotationTimestamp")


_KEY_CHECKS: tuple[Callable[[KeyRef, KeyFacts, Estate, int], Evidence], ...] = (
    _opted_in, _not_managed_hsm, _key_read, _run_clean, _unwrappers_known, _no_registry_busy, _registries_settled,
    _newest_in_service)


# --- Version checks ---------------------------------------------------------------------------------

def _older_than_newest_usable(observation: KeyObservation, version: KeyVersion, estate: Estate,
                              days: int) -> Evidence:
    newest = newest_usable_version(observation, estate.now)
    older = newest is not None and is_newer(observation, newest, version)
    return Evidence(RetireCheck.OLDER_THAN_NEWEST_USABLE, older,
                    f"newest usable is {newest.version if newest else None}; this one is "
                    + ("older" if older else "not older"))


def _not_current(observation: KeyObservation, version: KeyVersion, estate: Estate, days: int) -> Evidence:
    current = observation.current_version
    ok = current is not None and current != version.version
    return Evidence(RetireCheck.NOT_CURRENT, ok, f"Key Vault's current version is {current}")


def shows(registry: Registry, version: str) -> bool:
    """The registry names the version in keyIdentifier (parsed, or anywhere in the raw text) or in
    versionedKeyIdentifier, whatever its mode and provisioningState."""
    v = version.lower()
    return (registry.key_id is not None and registry.key_id.version == v) or v in registry.key_id_raw.lower() \
        or (registry.versioned_key_id is not None and registry.versioned_key_id.version == v)


def _not_in_use(observation: KeyObservation, version: KeyVersion, estate: Estate, days: int) -> Evidence:
    showing = [r.name for r in estate.registries if shows(r, version.version)]
    return Evidence(RetireCheck.NOT_IN_USE, not showing, f"shown by {', '.join(showing)}" if showing else
                    f"no registry of {len(estate.registries)} read shows it")


def _successor_aged(observation: KeyObservation, version: KeyVersion, estate: Estate, days: int) -> Evidence:
    newer = [v for v in observation.versions if is_newer(observation, v, version)]
    successor = min(newer, key=lambda v: v.created_on, default=None)
    if successor is None:
        return Evidence(RetireCheck.SUCCESSOR_AGED, False, "no version was created after it")
    aged = successor.created_on <= estate.now - timedelta(days=days)
    return Evidence(RetireCheck.SUCCESSOR_AGED, aged, f"next version {successor.version} created "
                    f"{_when(successor.created_on)} ({'over' if aged else 'under'} {days} days)")


_VERSION_CHECKS: tuple[Callable[[KeyObservation, KeyVersion, Estate, int], Evidence], ...] = (
    _older_than_newest_usable, _not_current, _not_in_use, _successor_aged)


def version_evidence(observation: KeyObservation, version: KeyVersion, estate: Estate,
                     days: int) -> tuple[Evidence, ...]:
    return tuple(check(observation, version, estate, days) for check in _VERSION_CHECKS)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "never (no lastKeyRotationTimestamp)"
