"""Domain errors: each says what was wrong in words a user can act on."""

from __future__ import annotations


class BillingError(Exception):
    """Base for every error the product raises on purpose."""


class ValidationError(BillingError, ValueError):
    """Input that does not satisfy a documented rule (a field, a value, a format)."""


class CardLoadError(ValidationError):
    """A rate card that cannot be loaded; the message names the card and the field."""
