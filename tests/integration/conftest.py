"""The local stack for integration tests: one moto server per test module.

moto keeps its state per process, so a module's tests share one stack and must not assume
the tables or queues are empty; each test uses its own tenant ids and drains what it reads.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.local.fake_stripe import FakeStripe
from shared.local.stack import LocalStack


@pytest.fixture(scope="module")
def local_stack() -> Iterator[LocalStack]:
    stack = LocalStack()
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    """localstripe on 127.0.0.1 (a free port), one per test module: no test calls Stripe."""
    with FakeStripe() as server:
        yield server
