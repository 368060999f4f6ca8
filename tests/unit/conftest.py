"""Unit tests run without a network: any socket they open fails the test (pytest-socket).

Integration and e2e tests talk to moto's server on 127.0.0.1, so the guard is scoped to this
directory instead of being a global ``--disable-socket``.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_network(socket_disabled: None) -> None:
    """Every unit test gets pytest-socket's ``socket_disabled`` fixture."""
