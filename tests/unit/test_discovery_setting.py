"""ROTATION_DISCOVERY: validated with an error naming it; the engine makes one inventory call for the whole scope."""

from __future__ import annotations

import pytest

from shared.errors import ConfigurationError
from shared.settings import DEFAULTS, load_settings


def test_listing_per_subscription_is_the_default() -> None:
    assert DEFAULTS["ROTATION_DISCOVERY"] == "list"
    assert load_settings({}).discovery == load_settings({"ROTATION_DISCOVERY": " "}).discovery == "list"


@pytest.mark.parametrize("value", ["resourcegraph", "ResourceGraph", " resourcegraph "])
def test_resource_graph_is_opt_in_and_case_insensitive(value: str) -> None:
    assert load_settings({"ROTATION_DISCOVERY": value}).discovery == "resourcegraph"


@pytest.mark.parametrize("value", ["graph", "arg", "list,resourcegraph"])
def test_anything_else_is_refused_naming_the_setting(value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"ROTATION_DISCOVERY must be one of list, resourcegraph") as err:
        load_settings({"ROTATION_DISCOVERY": value})
    assert repr(value) in str(err.value)
