"""The local stack's error, apart from the stack itself: the CLI raises it while reading its
state file, and importing ``shared.local.stack`` would load boto3 into every `billing` run."""

from __future__ import annotations

from shared.domain.errors import BillingError


class LocalStackError(BillingError):
    """The local stack cannot be built or run; the message says which resource or file."""
