"""Deterministic sample data: a retail card with peak/off-peak bands and native CDR files.

Used by the demo and the benchmarks, so both rate the same realistic shape of traffic:
mostly short answered calls, a share of unanswered attempts, some SMS, a few emergency calls.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

HEADER = (
    "call_id,tenant,account,service,direction,caller,callee,start_time,answer_time,end_time,"
    "billsec,disposition,quantity,encoding\n"
)

#: (prefix, destination, peak price/min, off-peak price/min); real-world-ish retail prices
DESTINATIONS: tuple[tuple[str, str, str, str], ...] = (
    ("1", "USA/Canada", "0.0140", "0.0100"),
    ("44", "United Kingdom", "0.0210", "0.0150"),
    ("447", "United Kingdom mobile", "0.0650", "0.0550"),
    ("49", "Germany", "0.0190", "0.0140"),
    ("4915", "Germany mobile", "0.0790", "0.0690"),
    ("33", "France", "0.0200", "0.0150"),
    ("336", "France mobile", "0.0700", "0.0600"),
    ("34", "Spain", "0.0180", "0.0130"),
    ("39", "Italy", "0.0220", "0.0160"),
    ("351", "Portugal", "0.0240", "0.0190"),
    ("55", "Brazil", "0.0450", "0.0400"),
    ("5511", "Brazil Sao Paulo", "0.0350", "0.0300"),
    ("91", "India", "0.0300", "0.0280"),
    ("61", "Australia", "0.0330", "0.0290"),
)


def retail_card(
    name: str = "retail-usd", currency: str = "USD", extra_prefixes: int = 0, seed: int = 7
) -> dict[str, Any]:
    """A native card document: every destination at peak (mon-fri 08-20) and off-peak, 60/6.

    ``extra_prefixes`` adds deeper synthetic prefixes under the listed ones (benchmarks use
    thousands, like a carrier A–Z deck).
    """
    rng = random.Random(seed)
    rows = list(DESTINATIONS)
    for i in range(extra_prefixes):
        base, destination, peak, offpeak = DESTINATIONS[i % len(DESTINATIONS)]
        deeper = base + str(rng.randrange(10**3, 10**4))
        bump = rng.randrange(1, 50)
        rows.append((deeper, f"{destination} {deeper}", _bump(peak, bump), _bump(offpeak, bump)))
    unique = {row[0]: row for row in rows}
    rates: list[dict[str, Any]] = []
    for prefix, destination, peak, offpeak in unique.values():
        for band, price in (("peak", peak), ("offpeak", offpeak)):
            rates.append(
                {
                    "prefix": prefix,
                    "destination": destination,
                    "band": band,
                    "tiers": [{"from": 0, "price": price, "initial": 60, "increment": 6}],
                }
            )
    rates.append(
        {
            "prefix": "",
            "destination": "Rest of world",
            "tiers": [{"from": 0, "price": "0.2500", "initial": 60, "increment": 60}],
        }
    )
    rates.append(
        {
            "prefix": "",
            "destination": "SMS",
            "service": "sms",
            "tiers": [{"from": 0, "price": "0.0079"}],
        }
    )
    rates.append(
        {
            "prefix": "1800",
            "destination": "Toll-free inbound",
            "direction": "in",
            "tiers": [{"from": 0, "price": "0.0220"}],
        }
    )
    rates.append(
        {
            "prefix": "",
            "destination": "Local inbound",
            "direction": "in",
            "tiers": [{"from": 0, "price": "0.0085"}],
        }
    )
    return {
        "card": name,
        "currency": currency,
        "timezone": "UTC",
        "decimals": 4,
        "rounding": "up",
        "bands": {
            "peak": {"days": "mon-fri", "from": "08:00", "to": "20:00", "weight": 10},
            "offpeak": {"days": "*", "from": "00:00", "to": "24:00", "weight": 0},
        },
        "holidays": ["2026-12-25"],
        "rates": rates,
    }


def _bump(price: str, ten_thousandths: int) -> str:
    whole, _, fraction = price.partition(".")
    units = int(whole) * 10 ** len(fraction) + int(fraction) + ten_thousandths
    return f"{units // 10 ** len(fraction)}.{units % 10 ** len(fraction):0{len(fraction)}d}"


def callees_for(card: dict[str, Any]) -> list[str]:
    """One dialable number per voice-out prefix of the card (prefix padded to 11+ digits)."""
    numbers = []
    for rate in card["rates"]:
        if rate.get("service", "voice") == "voice" and rate.get("direction", "out") == "out":
            prefix = rate["prefix"] or "7"
            numbers.append(prefix + "2345678901"[: max(4, 12 - len(prefix))])
    return sorted(set(numbers))


def write_cdrs(
    out: TextIO,
    rows: int,
    tenant: str,
    callees: list[str],
    *,
    seed: int = 1,
    start: datetime = datetime(2026, 10, 1, tzinfo=UTC),
    days: int = 30,
    id_prefix: str = "",
) -> None:
    """Write ``rows`` native CDRs with unique call ids, spread over ``days`` from ``start``."""
    rng = random.Random(seed)
    out.write(HEADER)
    span = days * 86400
    emergency = ("112", "911")
    for i in range(rows):
        begin = start + timedelta(seconds=rng.randrange(span))
        kind = rng.random()
        call_id = f"{id_prefix}c{i:08d}"
        if kind < 0.05:
            chars = rng.randrange(1, 400)
            out.write(
                f"{call_id},{tenant},ext{i % 50},sms,out,4930111,{rng.choice(callees)},"
                f"{_iso(begin)},{_iso(begin)},{_iso(begin)},,,{chars},gsm7\n"
            )
            continue
        callee = emergency[i % 2] if kind < 0.051 else rng.choice(callees)
        ring = rng.randrange(0, 20)
        answer = begin + timedelta(seconds=ring)
        if kind < 0.25:
            end = answer
            out.write(
                f"{call_id},{tenant},ext{i % 50},voice,out,4930111,{callee},{_iso(begin)},"
                f",{_iso(end)},0,NO ANSWER,,\n"
            )
            continue
        talk = max(1, int(rng.expovariate(1 / 150)))
        end = answer + timedelta(seconds=talk)
        out.write(
            f"{call_id},{tenant},ext{i % 50},voice,out,4930111,{callee},{_iso(begin)},"
            f"{_iso(answer)},{_iso(end)},{talk},ANSWERED,,\n"
        )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_sample_files(directory: Path, rows: int, tenant: str = "acme") -> tuple[Path, Path]:
    """A retail card and a CDR file in ``directory``; returns their paths."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    card = retail_card()
    card_path = directory / "retail-usd.json"
    card_path.write_text(json.dumps(card, indent=1), encoding="utf-8")
    cdr_path = directory / f"{tenant}-cdrs.csv"
    with cdr_path.open("w", encoding="utf-8", newline="") as out:
        write_cdrs(out, rows, tenant, callees_for(card))
    return card_path, cdr_path
