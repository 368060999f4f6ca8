"""EventBridge: the low-balance event that starts an auto-recharge (wallet_recharge), and the
fraud guard's alarm when a tenant's daily spend reaches its cap."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

SOURCE = "telecom.billing"
LOW_BALANCE = "WalletLowBalance"
SPEND_CAP = "DailySpendCapReached"


class EventBridgePublisher:
    def __init__(self, client: Any, bus: str = "default") -> None:
        self._client = client
        self._bus = bus

    def low_balance(self, tenant: str, balance: Decimal, threshold: Decimal, currency: str) -> None:
        detail = {
            "tenant": tenant,
            "balance": str(balance),
            "threshold": str(threshold),
            "currency": currency,
        }
        self._put(LOW_BALANCE, detail)

    def spend_cap_reached(
        self, tenant: str, day: str, spend: Decimal, cap: Decimal, currency: str
    ) -> None:
        detail = {
            "tenant": tenant,
            "day": day,
            "spend": str(spend),
            "cap": str(cap),
            "currency": currency,
        }
        self._put(SPEND_CAP, detail)

    def _put(self, detail_type: str, detail: dict[str, str]) -> None:
        response = self._client.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail),
                    "EventBusName": self._bus,
                }
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused {detail_type}: {response['Entries']}")
