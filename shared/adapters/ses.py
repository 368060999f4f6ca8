"""Tenant notifications (``shared.ports.Notifier``): SES email, or log lines when no sender.

What a tenant is told: a declined card (and that we back off before the next try), an
authentication needed (the bank wants the tenant present: no blind retry), no card on file.
A notification is best effort: the recharge's outcome is already recorded when it is sent,
so a failure to send is logged (and counted) but never undoes or repeats the recharge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.observability import logger

SUBJECTS = {
    "declined": "Your card was declined: wallet not recharged",
    "authentication_required": "Your bank needs you to confirm the wallet recharge",
    "no_card": "No card on file: wallet not recharged",
}
BODIES = {
    "declined": (
        "Your wallet's automatic recharge was declined by your card issuer{reason}. We will "
        "try again later; to avoid an interruption, update your card or top up manually."
    ),
    "authentication_required": (
        "Your bank asked for authentication of your wallet's automatic recharge. We will not "
        "retry it on our own: please top up manually, or confirm a card for off-session use."
    ),
    "no_card": (
        "Your wallet fell below its threshold but there is no card on file to recharge it. "
        "Please add a card or top up manually."
    ),
}


def message(kind: str, detail: Mapping[str, str]) -> tuple[str, str]:
    """(subject, text) of a notification; unknown kinds get a generic text."""
    code = detail.get("decline_code") or ""
    subject = SUBJECTS.get(kind, f"Wallet notice: {kind}")
    body = BODIES.get(kind, "Something about your wallet needs your attention ({kind}).")
    return subject, body.format(reason=f" ({code})" if code else "", kind=kind)


class LogNotifier:
    """No SES sender configured (or no address for the tenant): a structured log line."""

    def notify(self, tenant: str, kind: str, detail: Mapping[str, str]) -> None:
        logger.warning(
            "tenant notification (not emailed)",
            extra={"tenant": tenant, "notification": kind, **dict(detail)},
        )


class SesNotifier:
    """Email from one verified SES identity to the tenant's billing address."""

    def __init__(
        self, client: Any, sender: str, recipient_of: Callable[[str], str | None]
    ) -> None:
        self._client = client
        self._sender = sender
        self._recipient_of = recipient_of
        self._fallback = LogNotifier()

    def notify(self, tenant: str, kind: str, detail: Mapping[str, str]) -> None:
        recipient = self._recipient_of(tenant)
        if not recipient:
            self._fallback.notify(tenant, kind, detail)
            return
        subject, text = message(kind, detail)
        try:
            self._client.send_email(
                Source=self._sender,
                Destination={"ToAddresses": [recipient]},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
                },
            )
        except (BotoCoreError, ClientError) as error:  # best effort: outcome already recorded
            logger.error(
                "tenant notification not sent",
                extra={"tenant": tenant, "notification": kind, "error": type(error).__name__},
            )
            return
        logger.info("tenant notified", extra={"tenant": tenant, "notification": kind})
