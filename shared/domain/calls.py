"""Call records as the rating engine sees them, whatever switch format they came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Service(StrEnum):
    VOICE = "voice"
    SMS = "sms"
    EMAIL = "email"
    PORT = "port"
    FEE = "fee"  # any other one-time fee


class Direction(StrEnum):
    OUT = "out"
    IN = "in"


class CallStatus(StrEnum):
    """What became of one input row. The summary counts each status once per row."""

    RATED = "rated"
    UNANSWERED = "unanswered"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    MERGED = "merged"


class RejectReason(StrEnum):
    """Machine-readable reasons a row could not be rated (SPEC section 4)."""

    MALFORMED = "malformed"
    ENCODING = "encoding"
    NO_RATE = "no_rate"
    BAD_NUMBER = "bad_number"
    BAD_DURATION = "bad_duration"
    FUTURE_TIME = "future_time"
    BAD_QUANTITY = "bad_quantity"
    UNKNOWN_TENANT = "unknown_tenant"
    WRONG_TENANT = "wrong_tenant"
    CONFLICT = "conflict"
    CURRENCY_MISMATCH = "currency_mismatch"


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(slots=True)
class CallRecord:
    """One call (or message, or fee) normalised from any CDR format.

    Times are integer epoch milliseconds (UTC); durations are integer milliseconds, rounded
    up from the source's seconds. ``talk_ms`` is the billable talk time (billsec).
    """

    call_id: str
    tenant: str
    callee: str
    service: Service = Service.VOICE
    direction: Direction = Direction.OUT
    account: str = ""
    caller: str = ""
    start_ms: int | None = None
    answer_ms: int | None = None
    end_ms: int | None = None
    talk_ms: int = 0
    answered: bool = True
    quantity: Decimal | None = None
    encoding: Encoding | None = None
    #: what makes two rows "the same call with the same content" for dedupe
    fingerprint: str = field(default="", compare=False)
    #: where the record starts in its file, and its original text (for rejects)
    line_no: int = field(default=0, compare=False)
    raw: str = field(default="", compare=False)
