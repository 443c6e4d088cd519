"""A vault whose name does not resolve is permanent only after ARM confirms it is gone."""

from __future__ import annotations

import pytest

from shared.model import KeyObservation, VaultAccess
from shared.observe import confirm_unreachable_vaults
from shared.reasons import Reason
from tests.builders import KEY, SUB
from tests.fakes import FakeAccess

OTHER = "00000000-0000-0000-0000-000000000002"
UNREACHABLE = {KEY: KeyObservation(KEY, error=Reason.VAULT_UNREACHABLE, error_detail="does not resolve",
                                   error_transient=True)}
VAULT = VaultAccess(f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv-prod", "kv-prod",
                    True)


@pytest.mark.parametrize(("access", "reason", "transient"), [
    (FakeAccess(deleted={OTHER: ["kv-prod"]}), Reason.VAULT_DELETED, False),
    (FakeAccess(), Reason.VAULT_DELETED, False),
    (FakeAccess(vaults={SUB: [VAULT]}), Reason.VAULT_UNREACHABLE, True),
    (FakeAccess(unreadable={OTHER}), Reason.VAULT_UNREACHABLE, True),
], ids=["soft-deleted: ARM lists it among deleted vaults", "gone: no readable subscription has it",
        "present in ARM: a name-resolution problem, retried", "a subscription could not be read: not confirmed"])
def test_an_unresolvable_vault_is_deleted_only_when_arm_confirms_it(access, reason, transient) -> None:
    [confirmed] = confirm_unreachable_vaults(UNREACHABLE, access, lambda: [SUB, OTHER]).values()
    assert (confirmed.error, confirmed.error_transient) == (reason, transient)
    if reason == Reason.VAULT_DELETED:
        assert "az keyvault recover --name kv-prod" in confirmed.error_detail


def test_nothing_is_asked_of_arm_when_every_vault_resolves() -> None:
    fine = {KEY: KeyObservation(KEY)}

    def no_listing() -> list[str]:
        raise AssertionError("listed subscriptions although no vault was unreachable")

    assert confirm_unreachable_vaults(fine, FakeAccess(), no_listing) == fine
