"""Every Bicep file parses, by two independent parsers; a broken template is caught (the check can fail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.bicep_support import INFRA, BicepSyntaxError, bicep_files, check_syntax


def test_there_are_templates_to_check() -> None:
    names = {p.relative_to(INFRA).as_posix() for p in bicep_files()}
    assert {"main.bicep", "eventgrid-subscriptions.bicep", "app/function.bicep", "app/rbac.bicep"} <= names


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_every_bicep_file_parses(path: Path) -> None:
    check_syntax(path.read_text(), path.name)


@pytest.mark.parametrize(
    "snippet",
    [
        "resource sa 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: \n",  # value and brace missing
        "param location string = \n",  # no default value
        "var x = [for v in items: {\n  a: v\n}\n",  # unclosed loop
        "module m 'x.bicep' = {\n  name: 'm'\n  params: {\n    a: 'b'\n}\n",  # unbalanced braces
    ],
    ids=["missing-value", "missing-default", "unclosed-loop", "unbalanced-braces"],
)
def test_a_broken_template_fails_the_check(snippet: str) -> None:
    with pytest.raises(BicepSyntaxError):
        check_syntax(snippet, "broken.bicep")


def test_the_check_names_where_a_template_breaks() -> None:
    with pytest.raises(BicepSyntaxError, match=r"broken\.bicep:2:"):
        check_syntax("param ok string\nresource r 'A/b@2020-01-01' = {\n  name: [\n", "broken.bicep")
