"""The tables of docs/data-model.md, shared by the template and local-stack checks."""

from __future__ import annotations

#: logical id -> (hash key, range key or None); all keys are strings
TABLE_KEYS = {
    "TenantsTable": ("tenant_id", None),
    "RateCardsTable": ("card", "part"),
    "RatedCallsTable": ("call_key", None),
    "LedgerTable": ("tenant", "entry_id"),
    "BalancesTable": ("tenant", None),
    "BreakoutsTable": ("tenant", "day_destination"),
    "FilesTable": ("file_id", None),
    "IdempotencyTable": ("id", None),
    "PaymentsTable": ("record_key", None),
    "InvoicesTable": ("invoice_key", None),
}

#: rate_call's environment variable → the table it names
RATE_CALL_TABLE_VARIABLES = {
    "TENANTS_TABLE": "TenantsTable",
    "RATE_CARDS_TABLE": "RateCardsTable",
    "RATED_CALLS_TABLE": "RatedCallsTable",
    "LEDGER_TABLE": "LedgerTable",
    "BALANCES_TABLE": "BalancesTable",
    "BREAKOUTS_TABLE": "BreakoutsTable",
    "FILES_TABLE": "FilesTable",
    "IDEMPOTENCY_TABLE": "IdempotencyTable",
}
