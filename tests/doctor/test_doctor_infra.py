"""infra grants the app the least role that lets doctor read each system topic, on the topic alone, and tells the
app which topics to read; doctor's fix for a missing grant names that template."""

from __future__ import annotations

from shared.doctor import DOCTOR_SETTINGS
from shared.troubleshooting import role_for
from tests.infra.bicep_support import INFRA, parse

READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"


def test_reader_is_granted_on_each_system_topic_alone() -> None:
    template = parse(INFRA / "app" / "rbac-systemtopic.bicep")
    assert template["variables"]["reader"]["value"] == READER
    grant = template["resources"]["topicReader"]["config"]
    assert grant["scope"] == "topic" and template["resources"]["topic"]["type"] == "Microsoft.EventGrid/systemTopics"
    assert grant["properties"]["roleDefinitionId"]["function"]["parameters"]["resource_name_1"] == "reader"
    assert grant["properties"]["principalId"] == "appPrincipalId"
    module = parse(INFRA / "main.bicep")["modules"]["rbacTopics"]
    assert module["detail"]["path"] == "app/rbac-systemtopic.bicep"
    assert module["config"]["loop_type"]["detail"]["array_name"] == "systemTopicIds"


def test_the_app_is_told_which_topics_to_read() -> None:
    settings = parse(INFRA / "main.bicep")["variables"]["rotationSettings"]["value"]
    assert DOCTOR_SETTINGS == ("EVENTGRID_SYSTEM_TOPIC_IDS",)
    assert settings["EVENTGRID_SYSTEM_TOPIC_IDS"] == {
        "function": {"type": "join", "parameters": {"input_array": "systemTopicIds", "delimiter": ","}}}


def test_the_fix_for_a_missing_grant_names_the_role_and_the_template() -> None:
    for action in ("Microsoft.EventGrid/systemTopics/read", "Microsoft.EventGrid/systemTopics/eventSubscriptions/read"):
        text = role_for(action)
        assert text.startswith("Reader on the vault's Event Grid system topic")
        assert "infra/app/rbac-systemtopic.bicep" in text and (INFRA / "app" / "rbac-systemtopic.bicep").is_file()
