"""Auto-rotation of keys (ROTATION_AUTO_ROTATE_KEYS, off by default): create the next version of a key whose
version in use nears expiry, at most once per expiring version, under a per-key lock, re-read first."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shared.errors import RotationError
from shared.expiry import version_needing_successor
from shared.keyids import KeyRef
from shared.locks import KeyedLocks
from shared.model import KeyObservation, Registry
from shared.observe import observe_key
from shared.outcomes import KeyVersionCreated, RunProblem
from shared.ports import KeyVaultPort
from shared.reasons import Reason


@dataclass
class Successors:
    """What one run created: the keys as read afterwards, each creation, and the failures."""

    keys: dict[KeyRef, KeyObservation]
    created: list[KeyVersionCreated] = field(default_factory=list)
    problems: list[RunProblem] = field(default_factory=list)


@dataclass(frozen=True)
class KeyRotator:
    keyvault: KeyVaultPort
    clock: Callable[[], datetime]
    locks: KeyedLocks
    near_expiry_days: int

    def create_successors(self, registries: Sequence[Registry], keys: Mapping[KeyRef, KeyObservation],
                          dry_run: bool) -> Successors:
        result = Successors(dict(keys))
        for ref, observation in keys.items():
            in_use = {r.version_in_use for r in registries
                      if r.key_id is not None and r.key_id.key == ref and r.version_in_use}
            expiring = version_needing_successor(observation, in_use, self.clock(), self.near_expiry_days)
            if expiring is None:
                continue
            if dry_run:
                result.created.append(KeyVersionCreated(ref, expiring.version, None, True))
            else:
                self._create(ref, expiring.version, in_use, result)
        return result

    def _create(self, ref: KeyRef, expiring: str, in_use: set[str], result: Successors) -> None:
        with self.locks.hold(f"key:{ref}"):
            # Re-read under the lock: a concurrent run may have created the successor already.
            fresh = observe_key(self.keyvault, ref, self.clock())
            if version_needing_successor(fresh, in_use, self.clock(), self.near_expiry_days) is None:
                result.keys[ref] = fresh
                return
            try:
                new_version = self.keyvault.create_version(ref)
            except RotationError as exc:
                result.created.append(KeyVersionCreated(ref, expiring, None, False, exc.message))
                result.problems.append(RunProblem(str(ref), Reason.KEY_ROTATION_FAILED, exc.transient, exc.message))
                return
            result.created.append(KeyVersionCreated(ref, expiring, new_version, False))
            result.keys[ref] = observe_key(self.keyvault, ref, self.clock())
