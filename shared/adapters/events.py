"""EventBridge: the low-balance event that starts an auto-recharge (wallet_recharge)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

SOURCE = "telecom.billing"
LOW_BALANCE = "WalletLowBalance"


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
        response = self._client.put_events(
            Entries=[
                {
                    "Source": SOURCE,
                    "DetailType": LOW_BALANCE,
                    "Detail": json.dumps(detail),
                    "EventBusName": self._bus,
                }
            ]
        )
        if response.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the low-balance event: {response['Entries']}")
