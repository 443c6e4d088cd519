"""The CLI's exit codes (README, "Exit codes"), over in-memory fakes: what automation reads."""

from __future__ import annotations

import pytest

from shared import triggers
from shared.__main__ import FAILED, NOT_AUTHENTICATED, OK, USAGE_OR_CONFIGURATION, exit_code, parser, show
from shared.composition import assemble
from shared.errors import PermanentError, TemporaryError
from shared.locks import KeyedLocks
from shared.reasons import Reason
from shared.settings import Settings
from tests.builders import KEY, NOW, SUB, registry, version
from tests.fakes import FakeKeyVault, FakeRegistries

NO_CREDENTIAL = PermanentError(Reason.NO_CREDENTIAL, "listing subscriptions: no credential: DefaultAzureCredential "
                                                     "found none (tried EnvironmentCredential, AzureCliCredential). "
                                                     "Fix: on your machine run `az login`")


def engine(settings: Settings | None = None, **arm_errors):
    kv = FakeKeyVault(lambda: NOW)
    kv.add(KEY, version("v1", 30))
    kv.add(KEY, version("v2", 1))
    arm = FakeRegistries(listing_errors=dict(arm_errors))
    arm.add(registry("pinned1", version="v1"))
    return assemble(settings or Settings(), kv, arm, clock=lambda: NOW, locks=KeyedLocks()), kv, arm


def sweep_code(built) -> int:
    return exit_code(triggers.cli_sweep(False, lambda: built))


def test_a_converged_run_exits_0() -> None:
    built, _, _ = engine()
    assert sweep_code(built) == OK


def test_a_failed_registry_exits_1() -> None:
    built, kv, _ = engine()
    kv.errors[KEY] = PermanentError(Reason.KEY_FORBIDDEN_BY_RBAC, "refused")
    assert sweep_code(built) == FAILED


def test_a_permanent_run_problem_exits_1_and_a_transient_one_0() -> None:
    built, _, _ = engine(Settings(subscription_ids=(SUB, "00000000-0000-0000-0000-00000000beef")),
                         **{"00000000-0000-0000-0000-00000000beef": PermanentError(Reason.SUBSCRIPTION_NOT_FOUND, "x")})
    assert sweep_code(built) == FAILED
    built, _, _ = engine(Settings(subscription_ids=(SUB, "00000000-0000-0000-0000-00000000beef")),
                         **{"00000000-0000-0000-0000-00000000beef": TemporaryError(Reason.SERVICE_ERROR, "x")})
    assert sweep_code(built) == OK


@pytest.mark.parametrize("reason", [Reason.NO_CREDENTIAL, Reason.MANAGED_IDENTITY_NOT_FOUND, Reason.WRONG_TENANT,
                                    Reason.TOKEN_REJECTED, Reason.CLAIMS_CHALLENGE_FAILED])
def test_an_authentication_failure_exits_3_for_every_command(reason: Reason) -> None:
    built, _, _ = engine(**{"*": PermanentError(reason, "no token")})
    assert sweep_code(built) == NOT_AUTHENTICATED
    assert exit_code(triggers.status(lambda: built)) == NOT_AUTHENTICATED
    assert exit_code(triggers.rotate_fields({"key": KEY.uri()}, lambda: built)) == NOT_AUTHENTICATED


def test_bad_input_exits_2() -> None:
    built, _, _ = engine()
    assert exit_code(triggers.rotate_fields({"key": "https://evil.example.com/keys/k"}, lambda: built)) == \
        USAGE_OR_CONFIGURATION


def test_without_a_credential_the_cli_says_so_in_one_paragraph_and_once(capsys) -> None:
    two = Settings(subscription_ids=(SUB, "00000000-0000-0000-0000-00000000beef"))
    built, _, _ = engine(two, **{"*": NO_CREDENTIAL})
    answer = triggers.cli_sweep(False, lambda: built)
    assert [p.scope for p in answer.report.problems] == ["credential"]  # once, not once per subscription
    assert show(parser().parse_args(["sweep"]), answer) == NOT_AUTHENTICATED
    err = capsys.readouterr().err
    assert err.startswith("Could not authenticate to Azure.") and "az login" in err and "tried" in err
    assert len(err.strip().splitlines()) <= 4
