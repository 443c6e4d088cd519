"""Manual requests and app settings: validated once, with errors that name the field or setting."""

from __future__ import annotations

import pytest

from shared.composition import assemble
from shared.errors import BadRequest, ConfigurationError
from shared.keyids import Cloud
from shared.manual import parse_rotate_body, parse_rotate_request
from shared.settings import DEFAULTS, Settings, load_settings
from tests.builders import NOW, SUB

REG = f"/subscriptions/{SUB}/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/acrprod1"


def test_an_empty_body_means_everything_in_scope() -> None:
    request = parse_rotate_body(b"", Settings())
    assert request.registry is None and request.key is None and not request.dry_run


def test_a_full_break_glass_request_parses() -> None:
    request = parse_rotate_request({"registry": REG, "toVersion": "ABC123", "allowDowngrade": True,
                                    "dryRun": True}, Settings())
    assert request.registry is not None and request.registry.name == "acrprod1"
    assert (request.to_version, request.allow_downgrade, request.dry_run) == ("abc123", True, True)


def test_registry_ids_compare_case_insensitively_with_scope() -> None:
    request = parse_rotate_request({"registry": REG.replace("resourceGroups", "resourcegroups")},
                                   Settings(subscription_ids=(SUB.upper(),), resource_groups=("RG-ACR",)))
    assert request.registry is not None


@pytest.mark.parametrize(("body", "field"), [
    ({"registry": REG, "key": "https://kv.vault.azure.net/keys/k"}, "key"),
    ({"registry": REG.replace(SUB, "00000000-0000-0000-0000-000000000002")}, "registry"),
    ({"registry": REG.replace("rg-acr", "rg-other")}, "registry"),
    ({"registry": 5}, "registry"),
    ({"registry": REG + "/../../x"}, "registry"),
    ({"toVersion": "abc"}, "toVersion"),
    ({"registry": REG, "toVersion": "../etc"}, "toVersion"),
    ({"registry": REG, "toVersion": 7}, "toVersion"),
    ({"registry": REG, "allowDowngrade": True}, "allowDowngrade"),
    ({"dryRun": 1}, "dryRun"),
    ({"key": "https://kv.vault.azure.cn/keys/k"}, "key"),
])
def test_bad_requests_name_the_field(body: dict, field: str) -> None:
    settings = Settings(subscription_ids=(SUB,), resource_groups=("rg-acr",))
    with pytest.raises(BadRequest) as raised:
        parse_rotate_request(body, settings)
    assert raised.value.field == field


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"[" * 10000, b"x" * 20000, b"null", b'"text"'])
def test_undecodable_or_oversized_bodies_are_bad_requests(raw: bytes) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_rotate_body(raw, Settings())
    assert raised.value.field == "body"


def test_defaults_are_the_documented_ones() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert (settings.near_expiry_days, settings.dry_run, settings.auto_rotate_keys) == (30, False, False)
    assert settings.cloud == Cloud.PUBLIC and settings.sweep_schedule == DEFAULTS["ROTATION_SWEEP_SCHEDULE"]


def test_every_setting_is_read() -> None:
    env = {
        "ROTATION_SUBSCRIPTION_IDS": f" {SUB} , ", "ROTATION_RESOURCE_GROUPS": "rg-a,rg-b", "ROTATION_DRY_RUN": "TRUE",
        "ROTATION_NEAR_EXPIRY_DAYS": "14", "ROTATION_SWEEP_SCHEDULE": "0 */30 * * * *",
        "ROTATION_AUTO_ROTATE_KEYS": "1", "ROTATION_POLL_INTERVAL_SECONDS": "2.5",
        "ROTATION_MAX_PARALLEL_PER_SUBSCRIPTION": "4", "ROTATION_EVENT_BUDGET_SECONDS": "12",
        "ROTATION_HTTP_TIMEOUT_SECONDS": "5",
        "AZURE_CLOUD": "azurechinacloud",
    }
    s = load_settings(env)
    assert s == Settings((SUB,), ("rg-a", "rg-b"), True, 14, "0 */30 * * * *", True, 2.5, 4, 12.0, 5.0, Cloud.CHINA)
    assert s.endpoints.key_vault_suffixes == ("vault.azure.cn", "managedhsm.azure.cn")


@pytest.mark.parametrize(("name", "value"), [
    ("ROTATION_SUBSCRIPTION_IDS", "not-a-guid"),
    ("ROTATION_RESOURCE_GROUPS", "bad/group"),
    ("ROTATION_DRY_RUN", "maybe"),
    ("ROTATION_NEAR_EXPIRY_DAYS", "-1"),
    ("ROTATION_NEAR_EXPIRY_DAYS", "2.5"),
    ("ROTATION_NEAR_EXPIRY_DAYS", "soon"),
    ("ROTATION_SWEEP_SCHEDULE", "hourly"),
    ("ROTATION_AUTO_ROTATE_KEYS", "sometimes"),
    ("ROTATION_EVENT_BUDGET_SECONDS", "60"),
    ("AZURE_CLOUD", "AzureGermanCloud"),
])
def test_a_bad_setting_is_named_in_the_error(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        load_settings({name: value})


def test_the_cli_is_validated_like_the_http_body() -> None:
    """The CLI's flags become the HTTP body's fields and go through the same validation: no bypass of scope."""
    from shared import triggers
    from shared.__main__ import parser
    from shared.manual import cli_fields
    from tests.fakes import FakeKeyVault, FakeRegistries

    engine = assemble(Settings(subscription_ids=(SUB,)), FakeKeyVault(lambda: NOW), FakeRegistries())
    outside = "/subscriptions/00000000-0000-0000-0000-00000000dead/resourceGroups/rg/providers/" \
              "Microsoft.ContainerRegistry/registries/acr1"
    args = parser().parse_args(["rotate", "--registry", outside, "--to-version", "abc", "--allow-downgrade"])
    assert cli_fields(args) == {"registry": outside, "toVersion": "abc", "allowDowngrade": True}
    answer = triggers.rotate_fields(cli_fields(args), lambda: engine)
    assert (answer.status, answer.body["error"]["field"]) == (400, "registry")
    key_only = parser().parse_args(["rotate", "--key", "https://kv1.vault.azure.net/keys/k", "--allow-downgrade"])
    answer = triggers.rotate_fields(cli_fields(key_only), lambda: engine)
    assert (answer.status, answer.body["error"]["field"]) == (400, "allowDowngrade")
