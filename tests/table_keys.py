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
}
