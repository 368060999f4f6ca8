"""Deterministic call sets and CDR files for the reconciliation tests.

:func:`make_calls` draws a few days of traffic (fixed seed); the writers put the same calls in
native CSV or Asterisk ``Master.csv`` form, optionally with an injected difference: calls left
out, talk times shifted, clocks written in another zone, numbers written another way. The
cards price per second (``initial`` 1, ``increment`` 1) so a cost is computed by hand as
``talk × price / 60`` rounded up to 4 decimals.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

#: prefix → (destination, price per minute) of our card
PRICES: dict[str, tuple[str, str]] = {
    "44": ("United Kingdom", "0.0100"),
    "49": ("Germany", "0.0200"),
    "33": ("France", "0.0150"),
    "1": ("USA", "0.0060"),
}
DAYS = ("2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05")
NATIVE_HEADER = (
    "call_id,tenant,account,service,direction,caller,callee,start_time,answer_time,end_time,"
    "billsec,disposition,quantity,encoding\n"
)


@dataclass(frozen=True)
class Call:
    call_id: str
    callee: str  # E.164 digits without +
    start: datetime  # UTC
    ring_s: int
    talk_s: int  # 0: unanswered

    @property
    def prefix(self) -> str:
        return next(p for p in sorted(PRICES, key=len, reverse=True) if self.callee.startswith(p))

    def cost(self, price_per_minute: str) -> Decimal:
        """By hand: per-second billing, rounded up once to 4 decimals."""
        exact = Decimal(self.talk_s) * Decimal(price_per_minute) / 60
        return exact.quantize(Decimal("0.0001"), rounding=ROUND_UP)


def make_calls(per_day: int = 40, seed: int = 11) -> list[Call]:
    """``per_day`` calls on each of :data:`DAYS`, between 06:00 and 22:00 UTC, about one in
    six unanswered; every callee is distinct, every start on a whole second."""
    rng = random.Random(seed)
    calls: list[Call] = []
    used: set[str] = set()
    for day in DAYS:
        base = datetime.fromisoformat(day).replace(tzinfo=UTC)
        for _ in range(per_day):
            prefix = rng.choice(sorted(PRICES))
            while True:
                callee = prefix + str(rng.randrange(10**8, 10**9))
                if callee not in used:
                    used.add(callee)
                    break
            start = base + timedelta(seconds=rng.randrange(6 * 3600, 22 * 3600))
            talk = 0 if rng.random() < 0.17 else rng.randrange(5, 900)
            calls.append(Call(f"c{len(calls) + 1:04d}", callee, start, rng.randrange(3, 20), talk))
    calls.sort(key=lambda call: (call.start, call.call_id))
    return calls


def card(path: Path, *, name: str = "ours-usd", changes: dict[str, str] | None = None) -> Path:
    """A native card of :data:`PRICES` (with ``changes``: prefix → new price per minute)."""
    prices = {**{p: price for p, (_, price) in PRICES.items()}, **(changes or {})}
    rates = [
        {
            "prefix": prefix,
            "destination": PRICES[prefix][0],
            "tiers": [{"from": 0, "price": prices[prefix], "initial": 1, "increment": 1}],
        }
        for prefix in sorted(PRICES)
    ]
    document = {"card": name, "currency": "USD", "timezone": "UTC", "rates": rates}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def write_native(
    path: Path,
    calls: Iterable[Call],
    *,
    talk_delta_s: int = 0,
    number_prefix: str = "+",
    ids_prefix: str = "",
) -> Path:
    """Our side: native CSV with UTC offsets; ``talk_delta_s`` is added to answered calls."""
    lines = [NATIVE_HEADER]
    for call in calls:
        answer = call.start + timedelta(seconds=call.ring_s)
        talk = call.talk_s + talk_delta_s if call.talk_s else 0
        end = answer + timedelta(seconds=talk)
        lines.append(
            ",".join(
                [
                    ids_prefix + call.call_id,
                    "acme",
                    "acc1",
                    "voice",
                    "out",
                    "1001",
                    number_prefix + call.callee,
                    _iso(call.start),
                    _iso(answer) if talk else "",
                    _iso(end if talk else answer),
                    str(talk),
                    "ANSWERED" if talk else "NO ANSWER",
                    "",
                    "",
                ]
            )
            + "\n"
        )
    path.write_text("".join(lines), encoding="utf-8")
    return path


def write_asterisk(
    path: Path, calls: Iterable[Call], *, zone: str = "UTC", talk_delta_s: int = 0
) -> Path:
    """Their side: Asterisk cdr_csv rows (naive local times in ``zone``, numbers as dialled
    with the 00 exit prefix, ``uniqueid`` as the call id)."""
    local = ZoneInfo(zone)
    rows = []
    for index, call in enumerate(calls):
        answer = call.start + timedelta(seconds=call.ring_s)
        talk = call.talk_s + talk_delta_s if call.talk_s else 0
        end = answer + timedelta(seconds=talk)
        duration = int((end - call.start).total_seconds())
        fields = [
            "acc1",
            "1001",
            "00" + call.callee,
            "from-internal",
            "Desk <1001>",
            f"SIP/1001-{index:08x}",
            f"SIP/trunk-{index:08x}",
            "Dial",
            "SIP/trunk/00" + call.callee,
            _naive(call.start, local),
            _naive(answer, local) if talk else "",
            _naive(end, local),
            str(duration),
            str(talk),
            "ANSWERED" if talk else "NO ANSWER",
            "DOCUMENTATION",
            f"17{index:08d}.{index}",
            "",
        ]
        rows.append(",".join(f'"{field}"' if "," in field else field for field in fields))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _naive(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def write_freeswitch(path: Path, calls: Iterable[Call], *, extra_ms: int = 0) -> Path:
    """Their side: FreeSWITCH mod_cdr_csv with a header and ``billmsec`` (UTC naive times);
    ``extra_ms`` is added to the talk time of answered calls."""
    lines = [
        "uuid,caller_id_number,destination_number,context,start_stamp,answer_stamp,end_stamp,"
        "billsec,billmsec,hangup_cause"
    ]
    utc = ZoneInfo("UTC")
    for index, call in enumerate(calls):
        answer = call.start + timedelta(seconds=call.ring_s)
        talk_ms = call.talk_s * 1000 + extra_ms if call.talk_s else 0
        end = answer + timedelta(milliseconds=talk_ms)
        lines.append(
            ",".join(
                [
                    f"00000000-0000-4000-8000-{index:012d}",
                    "1002",
                    "+" + call.callee,
                    "default",
                    _naive(call.start, utc),
                    _naive(answer, utc) if talk_ms else "",
                    _naive(end, utc),
                    str(talk_ms // 1000),
                    str(talk_ms),
                    "NORMAL_CLEARING" if talk_ms else "NO_ANSWER",
                ]
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
