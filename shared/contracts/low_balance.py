"""The EventBridge low-balance event that SQS carries to wallet_recharge, as a RechargeRequest.

The message body is the whole EventBridge event (``version``, ``id``, ``detail-type``,
``source``, ``detail``), as an EventBridge rule with an SQS target delivers it; ``detail`` is
what ``shared.adapters.events.EventBridgePublisher.low_balance`` put. The event id is the
recharge's trigger: EventBridge keeps it across its own retries and SQS across redeliveries,
so one low-balance event is one trigger however often it arrives.
"""

from __future__ import annotations

import json
from typing import Any

from shared.domain.errors import ValidationError
from shared.services.recharge import RechargeRequest

SOURCE = "telecom.billing"
LOW_BALANCE = "WalletLowBalance"


def low_balance_request(body: str) -> RechargeRequest | None:
    """The recharge one SQS message asks for; None for an event of another type."""
    try:
        document: Any = json.loads(body)
    except json.JSONDecodeError as error:
        raise ValidationError(f"SQS body is not JSON: {error.msg}") from None
    except RecursionError:
        raise ValidationError("SQS body is JSON nested too deeply to be an event") from None
    if not isinstance(document, dict) or "detail-type" not in document:
        raise ValidationError("SQS body is not an EventBridge event")
    if document.get("source") != SOURCE or document.get("detail-type") != LOW_BALANCE:
        return None
    event_id, detail = document.get("id"), document.get("detail")
    if not isinstance(event_id, str) or not event_id:
        raise ValidationError("the low-balance event has no id")
    tenant = detail.get("tenant") if isinstance(detail, dict) else None
    if not isinstance(tenant, str) or not tenant:
        raise ValidationError("the low-balance event names no tenant")
    return RechargeRequest(tenant=tenant, trigger=f"evt-{event_id}")
