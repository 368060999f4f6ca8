"""Reconciliation of two call sources (SPEC section 8): ours versus a carrier's or switch's.

:func:`reconcile` runs the whole investigation on two :class:`Side` objects and returns a
:class:`Reconciliation` with totals, the worst day and hour, call differences, the largest
one with both receipts, and ranked findings. Pure: the sides are built by
``shared.services.reconcile``.
"""

from shared.domain.reconcile.analysis import Reconciliation, Settings, reconcile
from shared.domain.reconcile.matching import Offset, detect_offset, match_calls, number_key
from shared.domain.reconcile.model import (
    CallDiff,
    DiffKind,
    Finding,
    PeriodRow,
    ReconCall,
    Side,
    Totals,
)

__all__ = [
    "CallDiff",
    "DiffKind",
    "Finding",
    "Offset",
    "PeriodRow",
    "ReconCall",
    "Reconciliation",
    "Settings",
    "Side",
    "Totals",
    "detect_offset",
    "match_calls",
    "number_key",
    "reconcile",
]
