"""Read Powertools metrics back from what a handler printed (embedded metric format)."""

from __future__ import annotations

import json


def emf_metrics(out: str) -> dict[str, float]:
    """Sum of every metric in the Powertools EMF lines printed on stdout."""
    totals: dict[str, float] = {}
    for line in out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = document[metric["Name"]]
                values = value if isinstance(value, list) else [value]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + sum(values)
    return totals
