"""Fixtures for checking ``template.yaml``: as written, and as SAM transforms it.

The template is read by the local stack's loader (short tags in their long JSON form, as the
SAM transform and CloudFormation see them), so tests, ``billing local up`` and deployments
read one file one way.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from shared.local.stack import DEFAULT_TEMPLATE, load_template, transform_template

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = DEFAULT_TEMPLATE
HAVE_SAMTRANSLATOR = importlib.util.find_spec("samtranslator") is not None


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="session")
def transformed(template: dict[str, Any]) -> dict[str, Any]:
    """What CloudFormation would deploy for Stage=prod (SAM transform, offline)."""
    if not HAVE_SAMTRANSLATOR:
        pytest.skip("aws-sam-translator is not installed (a dev dependency)")
    return transform_template(template, {"Stage": "prod"})


@pytest.fixture(scope="session")
def deployed(template: dict[str, Any]) -> dict[str, Any]:
    """The transformed template when samtranslator is available, else the template as written.

    Plain CloudFormation resources (tables, queues, explicit roles) are the same in both.
    """
    if HAVE_SAMTRANSLATOR:
        return transform_template(template, {"Stage": "prod"})
    return template
