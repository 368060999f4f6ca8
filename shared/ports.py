"""The interfaces services need. Adapters (files, S3, DynamoDB, Stripe) implement them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from shared.domain.calls import CallRecord, RejectReason
from shared.domain.checkpoint import FileCheckpoint
from shared.domain.consistency import ChargedCall, LedgerFacts
from shared.domain.rating.card import RateCard
from shared.domain.rating.engine import Rating
from shared.domain.suspension import OpenInvoice
from shared.domain.tenants import AccountStatus, TenantSettings
from shared.domain.usage import BreakoutDelta, ChunkCommit, StoredCall


class RatedSink(Protocol):
    """Receives every rated or unanswered call, in input order."""

    def write(self, call: CallRecord, rating: Rating) -> None: ...


class RejectSink(Protocol):
    """Receives every row that could not be rated, with its physical line and reason."""

    def write(self, line_no: int, raw: str, reason: RejectReason, detail: str) -> None: ...


class Clock(Protocol):
    def now_ms(self) -> int: ...


# -- the S3 → ledger pipeline (rate_call) ----------------------------------------------------


class CdrObjects(Protocol):
    """CDR files in the bucket, read by byte range so memory never holds a whole file."""

    def read_range(
        self, bucket: str, key: str, start: int, end: int,
        version_id: str | None = None, etag: str | None = None,
    ) -> bytes:
        """Bytes [start, end) of the object (fewer at its end), of exactly that version (or
        ETag) when given: a different object under the key is an error, never read."""
        ...


class OutputStore(Protocol):
    """Rejects and per-file summaries, written outside the ``tenants/`` prefix."""

    def put_text(self, bucket: str, key: str, text: str) -> None: ...


class TenantDirectory(Protocol):
    def get(self, tenant: str) -> TenantSettings | None: ...


class CardStore(Protocol):
    def get(self, name: str) -> RateCard | None: ...


class EventPublisher(Protocol):
    def low_balance(self, tenant: str, balance: Decimal, threshold: Decimal, currency: str) -> None:
        ...

    def spend_cap_reached(
        self, tenant: str, day: str, spend: Decimal, cap: Decimal, currency: str
    ) -> None:
        """The fraud guard's alarm: a tenant's rated spend for a UTC day reached its cap."""
        ...


class CommitRefused(Exception):
    """The chunk commit lost a race (lease taken over, or the checkpoint moved on): nothing
    was written; the caller re-reads the checkpoint and carries on from there."""


class UsageStore(Protocol):
    """Rated calls, ledger, balances, breakouts and file checkpoints (DynamoDB in AWS)."""

    def checkpoint(self, file_id: str) -> FileCheckpoint | None: ...

    def start_file(self, checkpoint: FileCheckpoint) -> FileCheckpoint:
        """Create the checkpoint unless it exists; return the stored one either way."""
        ...

    def acquire_lease(self, tenant: str, owner: str, now_ms: int, ttl_ms: int) -> bool: ...

    def stored_calls(self, tenant: str, call_ids: list[str]) -> dict[str, StoredCall]: ...

    def committed(self, tenant: str, chunks: set[str]) -> set[str]:
        """Which of these chunk ids have a ledger entry."""
        ...

    def put_calls(
        self, tenant: str, calls: list[tuple[CallRecord, Rating, str]], chunk: str,
        expires_at: int,
    ) -> None:
        """Idempotent puts of (call, rating, content hash), each ``charged_by`` = chunk."""
        ...

    def commit(self, commit: ChunkCommit, owner: str) -> Decimal:
        """Ledger entry + balance + checkpoint + lease release, atomically; the balance
        after. Raises CommitRefused when the lease or the checkpoint says otherwise."""
        ...

    def apply_breakouts(self, tenant: str, file_id: str) -> dict[str, Decimal]:
        """Apply the breakout deltas of this file's committed chunks not yet applied
        (idempotent per chunk); the cost applied now, per UTC day."""
        ...

    def balance(self, tenant: str) -> Decimal: ...

    def day_spend(self, tenant: str, day: str) -> Decimal:
        """Rated cost of a UTC day across destinations (from the applied breakouts)."""
        ...


# -- payments (stripe_webhook, wallet_recharge) ----------------------------------------------


class WebhookVerifier(Protocol):
    """Checks a webhook's signature on the raw body (Stripe: HMAC-SHA256, 300 s tolerance)."""

    def verify(self, payload: bytes, signature: str | None) -> None:
        """Return if genuine and recent; raise ``InvalidWebhook`` otherwise. Never logs."""
        ...


class WalletCredits(Protocol):
    """Money into (or, negative, out of) a wallet: one ledger entry and the balance change in
    one transaction, idempotent by ``entry_id`` (``DynamoUsageStore.credit``)."""

    def credit(self, tenant: str, entry_id: str, amount: Decimal, currency: str) -> bool:
        """True when written; False (nothing changed) when the entry already exists."""
        ...


class PaymentRecords(Protocol):
    """Payment state (PaymentsTable): processed events, payment intents, refunds, disputes,
    setup intents, payment methods and the links charge/customer → tenant."""

    def event_seen(self, event_id: str) -> bool: ...

    def mark_event(self, event_id: str, event_type: str, created: int) -> None:
        """Remember a processed event (idempotent; expires after Stripe's retry window)."""
        ...

    def get(self, key: str) -> dict[str, Any] | None: ...

    def advance(
        self, key: str, rank: int, created: int, tenant: str | None, values: Mapping[str, Any]
    ) -> bool:
        """Move the record forward (``shared.domain.payments.may_advance``); False and nothing
        written when it is already at a later state. The first tenant recorded stays."""
        ...

    def link(self, key: str, tenant: str, values: Mapping[str, Any]) -> None:
        """Create or complete a lookup record (charge → tenant); its tenant never changes."""
        ...

    def flag_dispute(self, tenant: str, dispute_id: str, is_open: bool) -> None:
        """Add the dispute to (or remove it from) the tenant's open disputes."""
        ...

    def create(self, key: str, tenant: str | None, values: Mapping[str, Any]) -> bool:
        """Write the record unless ``key`` exists (exactly once); False when it did."""
        ...


class CallDetail(Protocol):
    """A tenant's charged calls of one billing period, with their rating fields (the
    ``by_period`` index of RatedCallsTable), as plain values in answer order."""

    def period_call_detail(self, tenant: str, period: str) -> list[dict[str, Any]]: ...


class PaymentGateway(Protocol):
    """Stripe behind a port: off-session PaymentIntents on the tenant's default card."""

    def charge_off_session(
        self, customer: str, amount_minor: int, currency: str, idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> Any:
        """Create and confirm a PaymentIntent; a ``shared.domain.payments.Charge``."""
        ...

    def retrieve(self, intent_id: str) -> Any:
        """The PaymentIntent's current state, as a ``Charge``."""
        ...

    def find_charge(self, customer: str, trigger: str) -> Any:
        """The PaymentIntent created for ``trigger`` (its ``metadata.trigger``) on the
        customer, as a ``Charge``; None when there is none. A retry whose first attempt may
        have reached Stripe looks here before creating, so a crash between Stripe's answer and
        our record of it never charges twice, even where Idempotency-Key is ignored."""
        ...

    # -- cards (shared.services.cards) ---------------------------------------------------

    def create_customer(self, tenant: str, idempotency_key: str) -> str:
        """A new Stripe customer for ``tenant`` (metadata.tenant); its id (cus_...)."""
        ...

    def create_setup_intent(
        self, customer: str, metadata: Mapping[str, str], payment_method: str | None = None
    ) -> Any:
        """A SetupIntent (usage off_session) for the customer, confirmed at once when a
        ``payment_method`` is given; a ``shared.domain.cards.SetupIntentRef``."""
        ...

    def list_cards(self, customer: str) -> list[Any]:
        """The customer's card PaymentMethods as ``shared.domain.cards.SavedCard``, the
        default (invoice_settings.default_payment_method) flagged."""
        ...

    def set_default_card(self, customer: str, payment_method: str) -> None: ...

    def detach_card(self, payment_method: str) -> None: ...


class CustomerRecords(Protocol):
    """The tenant → Stripe customer mapping (PaymentsTable ``stripe#<tenant>`` and
    ``customer#<cus>``; ``DynamoPaymentRecords``)."""

    def customer_of(self, tenant: str) -> str | None: ...

    def link(self, key: str, tenant: str, values: Mapping[str, Any]) -> None:
        """Create or complete a record; fields already set (and its tenant) never change."""
        ...


class RechargeRecords(Protocol):
    """The per-tenant recharge slot (PaymentsTable ``recharge#<tenant>``): our own
    idempotency record, so one trigger never charges twice and one tenant never has two
    recharges in flight."""

    def customer_of(self, tenant: str) -> str | None: ...

    def slot(self, tenant: str) -> dict[str, Any] | None:
        """The tenant's recharge slot as stored (whoever holds it), or None."""
        ...

    def claim(self, tenant: str, trigger: str, now: int) -> dict[str, Any] | None:
        """Take the slot for ``trigger`` (or find it already ours); None when another
        recharge is in flight or the tenant is backing off after a decline."""
        ...

    def settle(self, tenant: str, trigger: str, values: Mapping[str, Any]) -> None:
        """Record the outcome of ``trigger`` (only while the slot is still ours)."""
        ...


class Notifier(Protocol):
    """Tells a tenant something needs them (SES in AWS): a decline, an authentication."""

    def notify(self, tenant: str, kind: str, detail: Mapping[str, str]) -> None: ...


class WalletBalances(Protocol):
    def balance(self, tenant: str) -> Decimal: ...


# -- suspension, call admission, consistency (invoice_cycle's daily jobs) --------------------


class OpenInvoices(Protocol):
    """The tenant's issued invoices with a balance still due (the invoice store): what the
    suspension check and the webhook's restore read. Paid and cancelled invoices are left
    out; an invoice paid in part is listed with what remains."""

    def open_invoices(self, tenant: str) -> list[OpenInvoice]: ...


class TenantAccounts(Protocol):
    """Every tenant id, and the account status moved with a compare-and-set (TenantsTable)."""

    def tenant_ids(self) -> list[str]: ...

    def set_status(self, tenant: str, expected: AccountStatus, status: AccountStatus) -> bool:
        """Move the status from ``expected`` to ``status``; False (nothing written) when the
        stored status is not ``expected`` (another run moved it first)."""
        ...

    def move_status(
        self, tenant: str, expected: AccountStatus, status: AccountStatus, record_key: str,
        record: Mapping[str, Any], *, record_state: str | None = None,
    ) -> bool:
        """``set_status`` and the PaymentsTable record ``record_key`` (written whole) in one
        transaction: both or neither, so no crash leaves a record that disagrees with the
        status. With ``record_state`` the stored record must still be in that state. False
        (nothing written) when either condition fails."""
        ...


class PaymentsInFlight(Protocol):
    def payment_in_flight(self, tenant: str, now: int) -> bool:
        """A payment for the tenant started and not yet final (a recharge slot pending, a
        PaymentIntent processing or awaiting the customer's action), ``now`` epoch seconds."""
        ...


class AccountUsage(Protocol):
    """What call admission reads of the usage tables (``DynamoUsageStore``)."""

    def balance(self, tenant: str) -> Decimal: ...

    def day_spend(self, tenant: str, day: str) -> Decimal: ...


class ConsistencyReads(Protocol):
    """What the daily consistency check reads (``shared.adapters.consistency_store``)."""

    def tenant_ids(self) -> list[str]: ...

    def balance(self, tenant: str) -> Decimal: ...

    def ledger_facts(self, tenant: str) -> LedgerFacts: ...

    def breakout_rows(self, tenant: str, first_day: str) -> dict[tuple[str, str], BreakoutDelta]:
        """The tenant's stored breakout rows from ``first_day`` on, by (day, destination)."""
        ...

    def charged_calls(self, first_start_ms: int) -> Iterable[ChargedCall]:
        """Every tenant's stored rated calls started (or, with no start, answered) at or
        after ``first_start_ms``, charged or not (the check keeps the charged ones)."""
        ...
