"""Hypothesis budgets for the hostile-input and fault suites.

Per-test ``settings`` objects instead of a global profile, so these suites never change how
other suites run. ``derandomize`` makes every CI run try the same examples (a failure is
reproducible from the log alone); ``deadline=None`` because two shared cores make timings
noisy. The budgets keep both suites well under a minute together.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

#: pure readers and importers: bytes in, records out, no I/O
PURE = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: pure, but each example rates a file or runs a flow through in-memory stores
FLOW = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
