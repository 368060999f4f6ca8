"""A dispute's evidence pack: the disputed period's rated calls, written once under
``evidence/<tenant>/<dispute>.json``, through the webhook service with fakes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from shared.services.dispute_evidence import EvidenceDeps, disputed_periods
from shared.services.payments_webhook import WebhookDeps
from tests.fakes.payments import event, payment_intent
from tests.unit.services.test_payments_webhook import World, dispute


def _epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@dataclass
class Calls:
    by_period: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    asked: list[tuple[str, str]] = field(default_factory=list)

    def period_call_detail(self, tenant: str, period: str) -> list[dict[str, Any]]:
        self.asked.append((tenant, period))
        return self.by_period.get((tenant, period), [])


@dataclass
class Objects:
    puts: list[tuple[str, str, str]] = field(default_factory=list)

    def put_text(self, bucket: str, key: str, text: str) -> None:
        self.puts.append((bucket, key, text))


class EvidenceWorld(World):
    def __init__(self) -> None:
        super().__init__()
        self.calls, self.objects = Calls(), Objects()

    def deps(self) -> WebhookDeps:
        base = super().deps()
        return WebhookDeps(base.verifier, base.records, base.wallet, base.tenants,
                           EvidenceDeps(self.calls, self.objects, "cdr-bucket"))


def _call(call_id: str, cost: str, answer: str) -> dict[str, Any]:
    answer_ms = _epoch(answer) * 1000
    return {
        "tenant": "acme", "call_id": call_id, "status": "rated", "cost": Decimal(cost),
        "currency": "EUR", "caller": "+3225550100", "callee": "+447700900123",
        "card": "retail-eur", "prefix": "4477", "destination": "UK mobile", "band": "peak",
        "billed_ms": 60000, "quantity": 1, "talk_ms": 57000, "start_ms": answer_ms - 5000,
        "answer_ms": answer_ms, "end_ms": answer_ms + 57000, "flags": [], "line_no": 3,
        "content": "sha256:abc", "charged_by": "file#0",
    }


def test_periods_run_from_the_month_before_payment_to_the_dispute_capped() -> None:
    utc = ZoneInfo("UTC")
    assert disputed_periods(_epoch("2026-10-15T00:00:00"), _epoch("2026-11-20T00:00:00"),
                            utc) == ["2026-09", "2026-10", "2026-11"]
    assert disputed_periods(_epoch("2026-01-03T00:00:00"), _epoch("2026-01-04T00:00:00"),
                            utc) == ["2025-12", "2026-01"]
    assert disputed_periods(_epoch("2025-01-01T00:00:00"), _epoch("2026-01-01T00:00:00"),
                            utc) == ["2025-10", "2025-11", "2025-12", "2026-01"]
    # 2026-10-31T23:30Z is already November in Brussels
    assert disputed_periods(_epoch("2026-10-31T23:30:00"), _epoch("2026-11-02T00:00:00"),
                            ZoneInfo("Europe/Brussels")) == ["2026-10", "2026-11"]


def test_a_dispute_created_twice_writes_one_pack_of_the_disputed_periods_calls() -> None:
    # Given acme paid 20.00 EUR on 2026-10-15 (pi_e / ch_e) and made two calls in October
    world = EvidenceWorld()
    paid = _epoch("2026-10-15T10:00:00")
    world.deliver(event("payment_intent.succeeded",
                        payment_intent("pi_e", "acme", 2000, charge="ch_e"), "evt_e1", paid))
    world.calls.by_period[("acme", "2026-10")] = [
        _call("c1", "0.1200", "2026-10-16T09:00:00"), _call("c2", "0.3400", "2026-10-20T09:00:00")
    ]
    opened = dispute("dp_e", "ch_e", "needs_response")
    opened["created"] = _epoch("2026-10-28T12:00:00")

    # When charge.dispute.created arrives, then again under another event id
    world.deliver(event("charge.dispute.created", opened, "evt_e2"))
    world.deliver(event("charge.dispute.created", opened, "evt_e3"))

    # Then one object, outside tenants/, with September (before payment) and October
    assert len(world.objects.puts) == 1
    bucket, key, text = world.objects.puts[0]
    assert (bucket, key) == ("cdr-bucket", "evidence/acme/dp_e.json")
    pack = json.loads(text)
    assert pack["periods"] == ["2026-09", "2026-10"]
    assert (pack["dispute"], pack["charge"], pack["tenant"]) == ("dp_e", "ch_e", "acme")
    assert [c["call_id"] for c in pack["calls"]] == ["c1", "c2"]
    first = pack["calls"][0]
    assert (first["cost"], first["prefix"], first["band"], first["card"], first["billed_ms"]) == (
        "0.1200", "4477", "peak", "retail-eur", 60000
    )
    assert first["answered_at"] == "2026-10-16T09:00:00.000+00:00"
    assert pack["summary"] == {"calls": 2, "cost": "0.4600", "currencies": ["EUR"],
                               "billed_ms": 120000}
    marker = world.records.get("evidence#dp_e")
    assert marker is not None and marker["key"] == "evidence/acme/dp_e.json"
    assert world.wallet.balance("acme") == Decimal("20.00")


def test_no_pack_for_a_closed_dispute_or_an_unknown_tenant() -> None:
    world = EvidenceWorld()
    world.deliver(event("charge.dispute.closed", dispute("dp_x", "ch_none", "won"), "evt_x1"))
    world.deliver(event("charge.dispute.created", dispute("dp_y", "ch_none", "needs_response"),
                        "evt_x2"))

    assert world.objects.puts == []
