"""infra/samconfig.toml: every stage's deploy settings are ones the template accepts.

CloudFormation checks parameter values only when a stack is created; here each override is
checked against the template's declaration (name, AllowedValues, AllowedPattern, MinValue)
before anyone runs ``sam deploy --config-file infra/samconfig.toml --config-env prod``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMCONFIG = REPO_ROOT / "infra" / "samconfig.toml"
STAGES = ("dev", "prod")


def samconfig() -> dict[str, Any]:
    with SAMCONFIG.open("rb") as stream:
        return tomllib.load(stream)


def overrides(stage: str) -> dict[str, str]:
    listed = samconfig()[stage]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in listed)


def parameter_problems(template: dict[str, Any], values: dict[str, str]) -> list[str]:
    """What CloudFormation would refuse in ``values`` for ``template``'s parameters."""
    declared = template["Parameters"]
    problems = [f"{name}: not a template parameter" for name in values if name not in declared]
    for name, value in values.items():
        spec = declared.get(name, {})
        allowed = [str(v) for v in spec.get("AllowedValues", [])]
        if allowed and value not in allowed:
            problems.append(f"{name}: {value} not in {allowed}")
        if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
            problems.append(f"{name}: {value} does not match {spec['AllowedPattern']}")
        if spec.get("Type") == "Number":
            if not re.fullmatch(r"\d+", value):
                problems.append(f"{name}: {value} is not a number")
            elif "MinValue" in spec and int(value) < spec["MinValue"]:
                problems.append(f"{name}: {value} below {spec['MinValue']}")
    missing = [n for n, s in declared.items() if "Default" not in s and n not in values]
    return problems + [f"{name}: no value and no default" for name in missing]


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_deploys_its_own_stack_with_values_the_template_accepts(
    template: dict[str, Any], stage: str
) -> None:
    deploy = samconfig()[stage]["deploy"]["parameters"]
    values = overrides(stage)

    assert values["Stage"] == stage
    assert parameter_problems(template, values) == []
    assert deploy["stack_name"] == f"telecom-billing-{stage}"
    assert deploy["capabilities"] == "CAPABILITY_IAM"  # no named IAM resources
    assert deploy["resolve_s3"] is True
    assert deploy["region"] == "eu-west-1"
    # each stage reads its own Stripe secrets: a dev stack can never charge with prod's key
    assert f"/{stage}/" in values["StripeApiKeyParameter"]
    assert f"/{stage}/" in values["StripeWebhookSecretParameter"]
    # and builds in place (the layer's Makefile target) and validates with the linter
    assert samconfig()[stage]["build"]["parameters"]["build_in_source"] is True
    assert samconfig()[stage]["validate"]["parameters"]["lint"] is True


def test_prod_asks_before_changing_anything_and_keeps_logs_longer() -> None:
    prod, dev = samconfig()["prod"]["deploy"]["parameters"], samconfig()["dev"]["deploy"][
        "parameters"
    ]

    assert prod["confirm_changeset"] is True
    assert dev["confirm_changeset"] is False
    assert int(overrides("prod")["LogRetentionDays"]) > int(overrides("dev")["LogRetentionDays"])
    assert overrides("prod")["LogLevel"] == "INFO"  # DEBUG logs more than a tenant's ids


@pytest.mark.parametrize(("values", "expected"), [
    ({"Stage": "staging"}, "Stage: staging not in ['dev', 'prod', 'local']"),
    ({"LogRetentionDays": "100"}, "LogRetentionDays: 100 not in"),
    ({"RatingLagAlarmSeconds": "30"}, "RatingLagAlarmSeconds: 30 below 60"),
    ({"StripeApiKeyParameter": "telecom/key"}, "StripeApiKeyParameter: telecom/key does not"),
    ({"AlarmEmail": "ops"}, "AlarmEmail: ops does not match"),
    ({"Satge": "prod"}, "Satge: not a template parameter"),
])
def test_a_value_the_template_would_refuse_is_caught(
    template: dict[str, Any], values: dict[str, str], expected: str
) -> None:
    (problem,) = parameter_problems(template, values)
    assert problem.startswith(expected)
