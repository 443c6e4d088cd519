"""Retirement's permission in infra/: a custom role with only keys/read and keys/update/action, assigned on the
watched vaults only when the sweep retires (ROTATION_RETIRE=auto); the setting declared once, like the others."""

from __future__ import annotations

import json
import re

from shared.retirement_access import RETIRE_DATA_ACTIONS
from shared.settings import DEFAULTS, RETIRE_MODES, SETTINGS
from tests.infra.bicep_support import INFRA, parse, strip_comments

CRYPTO_OFFICER = "14b46e9e-c2b7-41b4-b07b-48a6ebf60603"


def test_the_retirement_role_holds_only_the_data_actions_disabling_needs() -> None:
    resources = parse(INFRA / "app" / "rbac-retirement.bicep")["resources"]
    [role] = [r for r in resources.values() if r["type"] == "Microsoft.Authorization/roleDefinitions"]
    [permissions] = role["config"]["properties"]["permissions"]
    assert permissions == {"actions": [], "notActions": [], "dataActions": list(RETIRE_DATA_ACTIONS),
                           "notDataActions": []}
    assert role["config"]["properties"]["type"] == "CustomRole"
    [assignment] = [r for r in resources.values() if r["type"] == "Microsoft.Authorization/roleAssignments"]
    assert assignment["config"]["scope"] == "vault"
    assert CRYPTO_OFFICER not in (INFRA / "app" / "rbac-retirement.bicep").read_text()


def test_the_role_is_granted_on_the_watched_vaults_only_when_the_sweep_retires() -> None:
    main = strip_comments((INFRA / "main.bicep").read_text())
    assert re.search(r"module rbacRetirement 'app/rbac-retirement\.bicep' = "
                     r"\[for \(v, i\) in \(retire == 'auto' \? watchedVaults : \[\]\): \{", main)
    assert "ROTATION_RETIRE: retire" in main


def test_the_setting_is_declared_once_and_settable_from_azd_with_the_engine_default() -> None:
    assert SETTINGS["ROTATION_RETIRE"][0] == "retire" and DEFAULTS["ROTATION_RETIRE"] == "plan"
    param = parse(INFRA / "main.bicep")["parameters"]["retire"]
    assert param["default"] == DEFAULTS["ROTATION_RETIRE"]
    [allowed] = [d["argument"] for d in param["decorators"] if d["type"] == "allowed"]
    assert tuple(allowed) == RETIRE_MODES
    azd = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]["retire"]["value"]
    assert azd == "${ROTATION_RETIRE=plan}"
