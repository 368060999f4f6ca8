"""``billing credit-note`` and ``billing payments`` against a running local stack.

``billing credit-note --tenant T --amount X --reason R --id ID`` turns a refund into a
credit for the tenant's next invoice (``shared.services.invoice_credits``): the id makes it
exactly once, so the same command run twice prints the first credit and creates nothing.
``billing payments --tenant T [--json]`` lists the tenant's payment history (Succeeded,
Failed, Refunded, invoice credits) from PaymentsTable's ``by_tenant`` index. Neither needs a
fake Stripe: both read and write only PaymentsTable and TenantsTable.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.cli.local_command import DEFAULT_STATE_DIR
from shared.cli.stack_state import stack_function, stack_session
from shared.domain.errors import ValidationError


def _connect(state_dir: Path) -> tuple[Any, Any]:
    """(payment records, tenant directory) of the stack ``billing local up`` started."""
    env, endpoint, region = stack_function(
        state_dir, "StripeWebhookFunction", ("PAYMENTS_TABLE", "TENANTS_TABLE")
    )
    payments, tenants = env["PAYMENTS_TABLE"], env["TENANTS_TABLE"]
    from shared.adapters.dynamodb import DynamoTenantDirectory
    from shared.adapters.payments_store import DynamoPaymentRecords

    dynamodb = stack_session(region).client("dynamodb", endpoint_url=endpoint)
    return DynamoPaymentRecords(dynamodb, payments), DynamoTenantDirectory(dynamodb, tenants)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    credit = commands.add_parser(
        "credit-note", help="a refund as a credit on the tenant's next invoice (local stack)"
    )
    credit.add_argument("--tenant", required=True)
    credit.add_argument("--amount", required=True, help="in the tenant's currency, e.g. 12.50")
    credit.add_argument("--reason", required=True)
    credit.add_argument(
        "--id", required=True, dest="credit_id",
        help="the credit's id: issuing the same id again creates nothing",
    )
    credit.add_argument("--json", action="store_true")
    credit.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    credit.set_defaults(handler=run_credit_note)

    history = commands.add_parser(
        "payments", help="a tenant's payment history: succeeded, failed, refunded (local stack)"
    )
    history.add_argument("--tenant", required=True)
    history.add_argument("--json", action="store_true")
    history.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    history.set_defaults(handler=run_payments)


def run_credit_note(args: argparse.Namespace) -> int:
    from shared.services.invoice_credits import issue_invoice_credit

    records, tenants = _connect(args.state_dir)
    issued = issue_invoice_credit(
        args.tenant, args.credit_id, args.amount, args.reason, records, tenants,
        int(time.time()),
    )
    credit = issued.credit
    if args.json:
        print(json.dumps({
            "tenant": credit.tenant, "id": credit.credit_id, "amount": str(credit.amount),
            "currency": credit.currency, "reason": credit.reason, "status": credit.status,
            "created": issued.created,
        }))
    elif issued.created:
        print(f"credit {credit.credit_id}: {credit.amount} {credit.currency} for "
              f"{credit.tenant}'s next invoice ({credit.reason})")
    else:
        print(f"credit {credit.credit_id} was already issued ({credit.amount} "
              f"{credit.currency}, {credit.status}); nothing new was created")
    return 0


def _when(created: int) -> str:
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def run_payments(args: argparse.Namespace) -> int:
    from shared.services.invoice_credits import payment_history

    records, tenants = _connect(args.state_dir)
    if tenants.get(args.tenant) is None:
        raise ValidationError(f"no tenant {args.tenant!r}")
    entries = payment_history(args.tenant, records)
    if args.json:
        print(json.dumps([
            {"created": _when(e.created), "status": e.status, "reference": e.reference,
             "amount": None if e.amount is None else str(e.amount), "currency": e.currency,
             "detail": e.detail}
            for e in entries
        ]))
        return 0
    if not entries:
        print(f"{args.tenant} has no payments yet")
    for e in entries:
        amount = "" if e.amount is None else f"{e.amount} {e.currency}"
        print(f"{_when(e.created)}  {e.status:<24}{amount:>16}  {e.reference}  {e.detail}".rstrip())
    return 0
