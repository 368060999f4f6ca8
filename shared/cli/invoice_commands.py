"""``billing invoices``, ``invoice show N``, ``charge`` and ``pay`` on a running local stack.

``billing invoices [--tenant T]`` lists issued invoices: number, tenant, period, status,
total and balance due. ``billing invoice show N`` prints one invoice as issued (lines,
totals, its settlement) and downloads its PDF from the stack's S3 to a local file whose path
it prints. ``billing charge --tenant T --id ID --description D --amount X`` records a
one-time charge (a number port) for the tenant's next invoice, once per id.
``billing pay --tenant T [--amount X] [--request-id R]`` charges the tenant's default card
on the fake Stripe now and applies the money to its open invoices, oldest first; the same
request id never charges twice.
"""

from __future__ import annotations

import argparse
import json
import uuid
from pathlib import Path
from typing import Any

from shared.cli.local_command import DEFAULT_STATE_DIR
from shared.cli.payments_commands import amount_option
from shared.cli.stack_state import stack_function, stack_session
from shared.domain.errors import ValidationError


class _Stack:
    """The invoice store and the PDF bucket of the stack ``billing local up`` started."""

    def __init__(self, state_dir: Path) -> None:
        required = ("INVOICES_TABLE", "INVOICE_BUCKET", "PAYMENTS_TABLE", "TENANTS_TABLE")
        self.env, endpoint, region = stack_function(state_dir, "InvoiceCycleFunction", required)
        from shared.adapters.invoice_store import DynamoInvoiceStore

        session = stack_session(region)
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint)
        self.s3 = session.client("s3", endpoint_url=endpoint)
        self.store = DynamoInvoiceStore(
            self.dynamodb, self.env["INVOICES_TABLE"], self.env["PAYMENTS_TABLE"]
        )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = commands.add_parser("invoices", help="issued invoices (local stack)")
    listing.add_argument("--tenant", help="only this tenant's invoices")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    listing.set_defaults(handler=run_list)

    invoice = commands.add_parser("invoice", help="one invoice (local stack)")
    actions = invoice.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="lines, totals and the PDF of invoice N")
    show.add_argument("number", help="the invoice number, e.g. INV-000001")
    show.add_argument("--out", type=Path, default=Path("."),
                      help="directory the PDF is downloaded to (default: here)")
    show.add_argument("--json", action="store_true")
    show.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    show.set_defaults(handler=run_show)

    charge = commands.add_parser(
        "charge", help="a one-time charge (number port) for the next invoice (local stack)"
    )
    charge.add_argument("--tenant", required=True)
    charge.add_argument("--id", required=True, dest="charge_id",
                        help="the charge's id: adding the same id again adds nothing")
    charge.add_argument("--description", required=True, help='e.g. "Number port"')
    charge.add_argument("--amount", required=True, help="unit price, e.g. 25.00")
    charge.add_argument("--quantity", default="1")
    charge.add_argument("--period", help="YYYY-MM of the first invoice that may bill it "
                        "(default: this month in the tenant's zone)")
    charge.add_argument("--json", action="store_true")
    charge.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    charge.set_defaults(handler=run_charge)

    pay = commands.add_parser(
        "pay", help="pay open invoices now with the default card, oldest first (local stack)"
    )
    pay.add_argument("--tenant", required=True)
    pay.add_argument("--amount", help="default: everything due")
    pay.add_argument("--request-id", help="the same id never charges twice")
    pay.add_argument("--json", action="store_true")
    pay.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    pay.set_defaults(handler=run_pay)


def _row(invoice: Any) -> dict[str, str]:
    return {
        "number": invoice.number, "tenant": invoice.tenant, "period": invoice.period,
        "status": invoice.status, "total": str(invoice.total),
        "balance_due": str(invoice.balance_due), "currency": invoice.currency,
        "issue_date": invoice.issue_date, "due_date": invoice.due_date,
    }


def run_list(args: argparse.Namespace) -> int:
    stack = _Stack(args.state_dir)
    invoices = (
        [stack.store.get(i.tenant, i.period) or i for i in stack.store.of_tenant(args.tenant)]
        if args.tenant else stack.store.all_invoices()
    )
    if args.json:
        print(json.dumps([_row(invoice) for invoice in invoices]))
        return 0
    if not invoices:
        print(f"no invoices{f' for {args.tenant}' if args.tenant else ''} yet")
        return 0
    print(f"{'number':<12} {'tenant':<16} {'period':<8} {'status':<15} {'total':>12} "
          f"{'balance due':>12}")
    for invoice in invoices:
        print(f"{invoice.number:<12} {invoice.tenant:<16} {invoice.period:<8} "
              f"{invoice.status:<15} {invoice.total:>12} {invoice.balance_due:>12} "
              f"{invoice.currency}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from shared.domain.invoicing.numbering import parse_number

    parse_number(args.number)  # a malformed number is one clear line
    stack = _Stack(args.state_dir)
    invoice = stack.store.by_number(args.number)
    if invoice is None:
        raise ValidationError(f"no invoice {args.number}")
    pdf_path: Path | None = None
    if invoice.pdf_key:
        args.out.mkdir(parents=True, exist_ok=True)
        pdf_path = (args.out / f"{invoice.number}.pdf").resolve()
        body = stack.s3.get_object(Bucket=stack.env["INVOICE_BUCKET"], Key=invoice.pdf_key)
        pdf_path.write_bytes(body["Body"].read())
    lines = list(invoice.document.get("lines", []))
    if args.json:
        print(json.dumps({**_row(invoice), "subtotal": str(invoice.subtotal),
                          "tax": str(invoice.tax), "paid": str(invoice.paid),
                          "lines": lines, "pdf": str(pdf_path) if pdf_path else None}))
        return 0
    print(f"invoice {invoice.number}  {invoice.tenant}  period {invoice.period}  "
          f"{invoice.status}")
    print(f"issued {invoice.issue_date}, due {invoice.due_date}")
    for line in lines:
        note = "  (statement, not charged)" if line.get("informational") else ""
        print(f"   {line['description'][:56]:<56} {line['amount']:>12}{note}")
    print(f"   {'subtotal':<56} {invoice.subtotal:>12}")
    print(f"   {'tax':<56} {invoice.tax:>12}")
    print(f"   {'total':<56} {invoice.total:>12} {invoice.currency}")
    print(f"   {'paid':<56} {invoice.paid:>12}")
    print(f"   {'balance due':<56} {invoice.balance_due:>12} {invoice.currency}")
    print(f"pdf: {pdf_path}" if pdf_path else "pdf: not written yet (the next run writes it)")
    return 0


def run_charge(args: argparse.Namespace) -> int:
    import time

    from shared.adapters.dynamodb import DynamoTenantDirectory
    from shared.services.invoicing import add_one_time_charge

    stack = _Stack(args.state_dir)
    tenants = DynamoTenantDirectory(stack.dynamodb, stack.env["TENANTS_TABLE"])
    charge, added = add_one_time_charge(
        args.tenant, args.charge_id, args.description, args.amount, args.quantity,
        args.period, tenants, stack.store, int(time.time() * 1000),
    )
    if args.json:
        print(json.dumps({"tenant": charge.tenant, "id": charge.charge_id,
                          "period": charge.period, "description": charge.description,
                          "unit_price": str(charge.unit_price),
                          "quantity": str(charge.quantity), "added": added}))
    elif added:
        print(f"charge {charge.charge_id}: {charge.description} {charge.quantity} x "
              f"{charge.unit_price} on {charge.tenant}'s invoice for {charge.period} or later")
    else:
        print(f"charge {charge.charge_id} was already added; nothing new was recorded")
    return 0


def _known_tenant(stack: _Stack, tenant: str) -> None:
    """An unknown tenant is an input error, not an account with nothing due."""
    from shared.adapters.dynamodb import DynamoTenantDirectory

    if DynamoTenantDirectory(stack.dynamodb, stack.env["TENANTS_TABLE"]).get(tenant) is None:
        raise ValidationError(f"no tenant {tenant!r}")


def run_pay(args: argparse.Namespace) -> int:
    from shared.adapters.payments_store import DynamoPaymentRecords
    from shared.cli.payments_commands import _stripe_errors, connect
    from shared.services.invoice_payments import AutopayDeps, pay_now

    amount = amount_option(args.amount) if args.amount is not None else None
    stack = _Stack(args.state_dir)
    _known_tenant(stack, args.tenant)
    context = connect(args.state_dir)
    records = DynamoPaymentRecords(stack.dynamodb, stack.env["PAYMENTS_TABLE"])
    deps = AutopayDeps(stack.store, context.gateway, records)
    with _stripe_errors():
        result = pay_now(args.tenant, amount, args.request_id or uuid.uuid4().hex, deps)
    parts = result.applied.parts if result.applied else ()
    if args.json:
        print(json.dumps({"tenant": args.tenant, "outcome": result.outcome,
                          "payment_intent": result.intent_id,
                          "applied": [[number, str(part)] for number, part in parts],
                          "unallocated": str(result.applied.unallocated)
                          if result.applied else None}))
    elif result.outcome == "succeeded":
        print(f"paid ({result.intent_id}): " + ", ".join(
            f"{number} {part}" for number, part in parts))
    elif result.outcome == "nothing_due":
        print(f"{args.tenant} has nothing due")
    else:
        raise ValidationError(f"payment {result.outcome}"
                              f"{f' ({result.intent_id})' if result.intent_id else ''}")
    return 0
