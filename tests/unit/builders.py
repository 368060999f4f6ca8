"""Small builders so a rating test reads like the sentence it proves.

``card(...)`` and ``rate(...)`` build native rate-card *documents* (plain dicts, exactly what a
JSON card file holds), ``call(...)`` builds a call from ISO-8601 times and seconds as text,
and ``rate_one(...)`` loads, compiles and rates in one step.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from shared.domain.calls import CallRecord, Direction, Encoding, Service
from shared.domain.rating.card import load_card
from shared.domain.rating.compiled import CompiledCard, compile_card
from shared.domain.rating.engine import Rating, rate_call
from shared.domain.rating.numbers import NumberingPlan

#: Processing time for unit tests: well after every call the tests make up.
NOW = "2027-01-15T12:00:00Z"

#: A Monday at 10:00 UTC (2026-03-02 is a Monday): inside any mon-fri 08-20 peak band.
MONDAY_10AM = "2026-03-02T10:00:00Z"


def ms(iso: str) -> int:
    """Epoch milliseconds of an ISO-8601 instant (``Z`` or an offset is required)."""
    moment = datetime.fromisoformat(iso)
    assert moment.tzinfo is not None, f"{iso!r} needs an offset: unit tests never guess zones"
    return int(moment.timestamp() * 1000)


def seconds_to_ms(seconds: str | int) -> int:
    """``"9.1"`` → 9100. Tests only use values exact to the millisecond."""
    value = Decimal(str(seconds)) * 1000
    assert value == value.to_integral_value(), f"{seconds} s is not whole milliseconds"
    return int(value)


def tier(
    price: str,
    *,
    start: int | str = 0,
    per: int | None = None,
    initial: int | str | None = None,
    increment: int | str | None = None,
) -> dict[str, Any]:
    doc: dict[str, Any] = {"from": start, "price": price}
    if per is not None:
        doc["per"] = per
    if initial is not None:
        doc["initial"] = initial
    if increment is not None:
        doc["increment"] = increment
    return doc


def rate(
    prefix: str = "",
    price: str = "0.0140",
    *,
    per: int | None = None,
    initial: int | str | None = None,
    increment: int | str | None = None,
    tiers: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """One rate document; a single tier from ``price``/``per``/``initial``/``increment``
    unless ``tiers`` is given. Other fields (band, direction, connect_fee, ...) pass through."""
    if tiers is None:
        tiers = [tier(price, per=per, initial=initial, increment=increment)]
    return {"prefix": prefix, "tiers": tiers, **fields}


def card(*rates: dict[str, Any], **settings: Any) -> dict[str, Any]:
    """A card document: USD, UTC, the SPEC defaults (4 dp, rounding up) unless overridden."""
    return {"card": "test", "currency": "USD", "timezone": "UTC", "rates": list(rates), **settings}


PEAK_OFFPEAK_BANDS = {
    "peak": {"days": "mon-fri", "from": "08:00", "to": "20:00", "weight": 10},
    "offpeak": {"days": "*", "from": "00:00", "to": "24:00", "weight": 0},
}


def compiled(
    document: dict[str, Any], zone: str | None = None, parent: CompiledCard | None = None
) -> CompiledCard:
    return compile_card(load_card(document), zone, parent)


def call(
    callee: str = "4930123456",
    *,
    answer: str | None = MONDAY_10AM,
    talk: str | int = 60,
    service: Service = Service.VOICE,
    direction: Direction = Direction.OUT,
    answered: bool = True,
    quantity: str | int | None = None,
    encoding: Encoding | None = None,
    call_id: str = "c1",
) -> CallRecord:
    """A call answered at ``answer`` (ISO-8601) with ``talk`` seconds of talk time."""
    answer_ms = None if answer is None else ms(answer)
    return CallRecord(
        call_id=call_id,
        tenant="acme",
        callee=callee,
        service=service,
        direction=direction,
        start_ms=answer_ms,
        answer_ms=answer_ms,
        talk_ms=seconds_to_ms(talk),
        answered=answered,
        quantity=None if quantity is None else Decimal(str(quantity)),
        encoding=encoding,
    )


def message(
    service: Service,
    quantity: str | int | None,
    *,
    callee: str = "",
    at: str = MONDAY_10AM,
    encoding: Encoding | None = None,
) -> CallRecord:
    """An SMS, email batch or one-time fee: no talk time, a quantity."""
    return call(callee, answer=at, talk=0, service=service, quantity=quantity, encoding=encoding)


def example_b_card(**settings: Any) -> dict[str, Any]:
    """SPEC 3.7 worked example B, written exactly as the text describes it: zone
    Europe/London, prefix 44 at peak (mon-fri 08:00–20:00, weight 10, connect 0.0100,
    0.0333/min, initial 60, then 6 s steps from 60 s) and off-peak (``*``, weight 0,
    connect 0.0050, 0.0117/min, same tiers)."""
    return card(
        rate(
            "44",
            band="peak",
            connect_fee="0.0100",
            tiers=[tier("0.0333", initial=60), tier("0.0333", start=60, increment=6)],
        ),
        rate(
            "44",
            band="offpeak",
            connect_fee="0.0050",
            tiers=[tier("0.0117", initial=60), tier("0.0117", start=60, increment=6)],
        ),
        bands=PEAK_OFFPEAK_BANDS,
        timezone="Europe/London",
        **settings,
    )


def rate_one(
    document: dict[str, Any] | CompiledCard,
    record: CallRecord,
    *,
    plan: NumberingPlan | None = None,
    zone: str | None = None,
    now: str = NOW,
) -> Rating:
    """Load + compile (unless already compiled) + rate with a receipt."""
    compiled_card = document if isinstance(document, CompiledCard) else compiled(document, zone)
    return rate_call(record, compiled_card, plan or NumberingPlan(), ms(now), explain=True)
