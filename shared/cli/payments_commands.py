"""``billing cards list|add|default|remove`` and ``billing topup`` against a running local stack
(``billing local up``) and a fake Stripe server (SPEC sections 6 and 9).

The fake Stripe's base URL comes from ``STRIPE_API_BASE``, else from the local stack's state
file (``billing local up`` records the ``STRIPE_API_BASE`` it was started with, or the
localstripe it started); without one the command says so in one line and exits 2. The API
key is ``STRIPE_API_KEY`` (a fake Stripe accepts any).

Cards go through ``shared.services.cards``. A top-up goes through the recharge service's
manual entry point (``RechargeRequest`` with an amount: minimum 5.00, or
``MANUAL_TOPUP_MINIMUM``), so it takes the tenant's recharge slot like an automatic one, and
``--request-id`` makes a retried command charge at most once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from shared.cli.local_command import DEFAULT_STATE_DIR, STATE_FILE, STRIPE_API_BASE_VARIABLE
from shared.cli.stack_state import read_state_text, stack_session
from shared.domain.errors import BillingError, ValidationError
from shared.domain.tenants import BillingMode

#: a fake Stripe accepts any key; this one is recognisably not a real one
LOCAL_API_KEY = "sk_test_local_fake"
EXIT_DECLINED = 1


@dataclass
class PaymentsContext:
    env: dict[str, str]
    dynamodb: Any
    gateway: Any


def _state(state_dir: Path) -> dict[str, Any]:
    text = read_state_text(state_dir)
    try:
        state = json.loads(text)
    except ValueError as error:
        raise ValidationError(
            f"{state_dir / STATE_FILE}: unreadable local stack state ({error})"
        ) from None
    if not isinstance(state, dict):
        raise ValidationError(f"{state_dir / STATE_FILE}: not a local stack state file")
    return state


def stripe_api_base(state: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The fake Stripe's base URL: the environment first, then the local stack's state."""
    recorded = state.get("stripe") if isinstance(state.get("stripe"), dict) else {}
    base = environ.get(STRIPE_API_BASE_VARIABLE) or (recorded or {}).get("api_base")
    if not base:
        raise ValidationError(
            "no fake Stripe is configured: set STRIPE_API_BASE to its URL, or run `billing "
            "local up` with localstripe installed (it starts one)"
        )
    return str(base)


def connect(state_dir: Path) -> PaymentsContext:
    state = _state(state_dir)
    api_base = stripe_api_base(state, os.environ)
    from shared.adapters.stripe_gateway import StripeGateway

    try:
        env = dict(state["functions"]["StripeWebhookFunction"]["environment"])
        endpoint, region = state["endpoint"], state["region"]
    except (KeyError, TypeError):
        raise ValidationError(
            f"{state_dir / STATE_FILE}: not a local stack state file with StripeWebhookFunction"
        ) from None
    dynamodb = stack_session(region).client("dynamodb", endpoint_url=endpoint)
    gateway = StripeGateway(os.environ.get("STRIPE_API_KEY") or LOCAL_API_KEY, api_base)
    return PaymentsContext(env, dynamodb, gateway)


@contextmanager
def _stripe_errors() -> Iterator[None]:
    """A Stripe error (bad request, fake server down) as one line, never a traceback."""
    import stripe

    try:
        yield
    except stripe.APIConnectionError:
        raise BillingError(
            "stripe: the fake Stripe server does not answer (is `billing local up` still "
            "running, or STRIPE_API_BASE right?)"
        ) from None
    except stripe.StripeError as error:
        text = getattr(error, "user_message", None) or str(error) or type(error).__name__
        first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        raise BillingError(f"stripe: {first}") from None


def _card_deps(context: PaymentsContext) -> Any:
    from shared.adapters.dynamodb import DynamoTenantDirectory
    from shared.adapters.payments_store import DynamoPaymentRecords
    from shared.services.cards import CardDeps

    return CardDeps(
        tenants=DynamoTenantDirectory(context.dynamodb, context.env["TENANTS_TABLE"]),
        records=DynamoPaymentRecords(context.dynamodb, context.env["PAYMENTS_TABLE"]),
        gateway=context.gateway,
    )


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cards = commands.add_parser("cards", help="a tenant's saved cards (local stack, fake Stripe)")
    actions = cards.add_subparsers(dest="cards_action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="brand, last4, expiry, default")
    _common(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=run_list)

    add = actions.add_parser("add", help="save a card with a SetupIntent")
    _common(add)
    add.add_argument(
        "--payment-method",
        help="confirm at once with this PaymentMethod (pm_...); without it, prints the "
        "SetupIntent's client secret for Stripe.js",
    )
    add.set_defaults(handler=run_add)

    default = actions.add_parser("default", help="make a card the one auto-recharge charges")
    _common(default)
    default.add_argument("payment_method", metavar="PAYMENT_METHOD", help="pm_... of the card")
    default.set_defaults(handler=run_default)

    remove = actions.add_parser("remove", help="detach a card")
    _common(remove)
    remove.add_argument("payment_method", metavar="PAYMENT_METHOD", help="pm_... of the card")
    remove.set_defaults(handler=run_remove)

    topup = commands.add_parser("topup", help="a manual wallet top-up on the default card")
    _common(topup)
    topup.add_argument("--amount", required=True, help="in the tenant's currency, e.g. 20.00")
    topup.add_argument(
        "--request-id",
        help="idempotency: the same id again never charges twice (default: a new one)",
    )
    topup.add_argument("--json", action="store_true")
    topup.set_defaults(handler=run_topup)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)


def run_list(args: argparse.Namespace) -> int:
    from shared.services.cards import list_cards

    context = connect(args.state_dir)
    with _stripe_errors():
        cards = list_cards(args.tenant, _card_deps(context))
    if args.json:
        print(json.dumps([
            {"payment_method": c.payment_method, "brand": c.brand, "last4": c.last4,
             "exp_month": c.exp_month, "exp_year": c.exp_year, "default": c.default}
            for c in cards
        ]))
        return 0
    if not cards:
        print(f"{args.tenant} has no saved cards (add one with `billing cards add`)")
    for card in cards:
        print(
            f"{card.payment_method:<28}{card.brand:<12}**** {card.last4}  {card.expiry}"
            + ("  default" if card.default else "")
        )
    return 0


def run_add(args: argparse.Namespace) -> int:
    from shared.services.cards import save_card

    context = connect(args.state_dir)
    with _stripe_errors():
        setup = save_card(args.tenant, _card_deps(context), args.payment_method)
    if setup.status == "succeeded":
        print(f"card {setup.payment_method} saved for {args.tenant} (SetupIntent {setup.id})")
    else:
        print(
            f"SetupIntent {setup.id} ({setup.status}) for {args.tenant}: confirm it in the "
            f"browser with Stripe.js, client secret {setup.client_secret}"
        )
    return 0


def run_default(args: argparse.Namespace) -> int:
    from shared.services.cards import set_default

    context = connect(args.state_dir)
    with _stripe_errors():
        card = set_default(args.tenant, args.payment_method, _card_deps(context))
    print(f"{card.brand} **** {card.last4} is now {args.tenant}'s default card")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from shared.services.cards import remove_card

    context = connect(args.state_dir)
    with _stripe_errors():
        card = remove_card(args.tenant, args.payment_method, _card_deps(context))
    print(f"{card.brand} **** {card.last4} removed from {args.tenant}")
    return 0


class _PrintNotifier:
    """The tenant's notification (an email in AWS), shown on stderr."""

    def notify(self, tenant: str, kind: str, detail: Mapping[str, str]) -> None:
        print(f"notified {tenant}: {kind}", file=sys.stderr)


def amount_option(text: str) -> Decimal:
    """``--amount`` of a payment command: a positive amount, e.g. 20.00."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValidationError(f"--amount must be an amount like 20.00, got {text!r}") from None
    if not amount.is_finite() or amount <= 0:
        raise ValidationError(f"--amount must be positive, got {text!r}")
    return amount


def run_topup(args: argparse.Namespace) -> int:
    from shared.adapters.dynamodb import DynamoTenantDirectory, DynamoUsageStore, UsageTables
    from shared.adapters.payments_store import DynamoPaymentRecords
    from shared.services.cards import list_cards
    from shared.services.recharge import (
        DEFAULT_MANUAL_MINIMUM,
        RechargeDeps,
        RechargeRequest,
        recharge,
    )

    amount = amount_option(args.amount)
    context = connect(args.state_dir)
    env, dynamodb = context.env, context.dynamodb
    tenants = DynamoTenantDirectory(dynamodb, env["TENANTS_TABLE"])
    settings = tenants.get(args.tenant)
    if settings is None:
        raise ValidationError(f"no tenant {args.tenant!r}")
    if settings.mode is not BillingMode.PREPAID:
        raise ValidationError(f"{args.tenant} is {settings.mode}: top-ups go to prepaid wallets")
    records = DynamoPaymentRecords(dynamodb, env["PAYMENTS_TABLE"])
    with _stripe_errors():
        # checked first: a charge attempt without a card would hold the recharge slot
        cards = list_cards(args.tenant, _card_deps(context))
    if not any(card.default for card in cards):
        raise ValidationError(
            f"{args.tenant} has no default card: add one with `billing cards add` "
            "(or choose one with `billing cards default`)"
        )
    usage = DynamoUsageStore(dynamodb, UsageTables(
        rated_calls="", ledger=env["LEDGER_TABLE"], balances=env["BALANCES_TABLE"],
        breakouts="", files="",
    ))
    minimum = Decimal(os.environ.get("MANUAL_TOPUP_MINIMUM") or DEFAULT_MANUAL_MINIMUM)
    deps = RechargeDeps(
        tenants=tenants, balances=usage, wallet=usage, records=records,
        gateway=context.gateway, notifier=_PrintNotifier(), now=lambda: int(time.time()),
        manual_minimum=minimum,
    )
    trigger = f"manual-{args.request_id or uuid.uuid4().hex}"
    with _stripe_errors():
        result = recharge(RechargeRequest(args.tenant, trigger, amount), deps)
    balance = usage.balance(args.tenant)
    if args.json:
        print(json.dumps({"tenant": args.tenant, "outcome": result.outcome,
                          "payment_intent": result.intent_id, "amount": str(amount),
                          "currency": settings.currency, "balance": str(balance)}))
    messages = {
        "succeeded": f"topped up {amount} {settings.currency} ({result.intent_id}); "
                     f"balance {balance} {settings.currency}",
        "processing": f"top-up {result.intent_id} is processing: the wallet is credited when "
                      "Stripe confirms it",
        "done_before": f"request {trigger} was already handled ({result.intent_id}); "
                       f"balance {balance} {settings.currency}",
    }
    if result.outcome in messages:
        if not args.json:
            print(messages[result.outcome])
        return 0
    problems = {
        "busy": "another top-up is in flight, or the wallet is backing off after a decline; "
                "try again later",
        "declined": f"the card was declined ({result.intent_id}); nothing was credited",
        "authentication_required": f"the bank asks the cardholder to authenticate "
                                   f"({result.intent_id}); nothing was credited",
        "no_card": f"{args.tenant} has no card on file",
        "skipped": f"{args.tenant} is not a prepaid tenant",
    }
    print(f"billing: error: {problems.get(result.outcome, result.outcome)}", file=sys.stderr)
    return EXIT_DECLINED
