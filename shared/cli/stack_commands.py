"""Commands that work against a running local stack (``billing local up``):
``billing balance``, ``billing breakout``, and ``billing local load-card | add-tenant | drop``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from shared.cli import breakout_command
from shared.cli.local_command import DEFAULT_STATE_DIR, STATE_FILE
from shared.cli.stack_state import read_state_text, stack_function, stack_session
from shared.domain.call_status import call_status
from shared.domain.errors import ValidationError
from shared.domain.tenants import BillingMode, TenantSettings
from shared.formats.card_files import read_document


@dataclass
class Connected:
    env: dict[str, str]
    clients: dict[str, Any]
    bucket: str


def connect(state_dir: Path) -> Connected:
    """Clients for the stack that ``billing local up`` started (its state file says where)."""
    env, endpoint, region = stack_function(state_dir, "RateCallFunction")
    try:
        bucket = str(json.loads(read_state_text(state_dir))["resources"]["CdrBucket"]["ref"])
    except (KeyError, TypeError):
        raise ValidationError(
            f"{state_dir / STATE_FILE}: not a local stack state file with CdrBucket"
        ) from None
    session = stack_session(region)
    clients = {name: session.client(name, endpoint_url=endpoint) for name in ("dynamodb", "s3")}
    return Connected(env, clients, bucket)


def tenant_settings(connected: Connected, tenant: str) -> TenantSettings:
    """The tenant's settings in the stack's TenantsTable; one line when it has none."""
    from shared.adapters.dynamodb import DynamoTenantDirectory

    settings = DynamoTenantDirectory(
        connected.clients["dynamodb"], connected.env["TENANTS_TABLE"]
    ).get(tenant)
    if settings is None:
        raise ValidationError(f"no tenant {tenant!r} in the local stack")
    return settings


def _store(connected: Connected) -> Any:
    from shared.adapters.dynamodb import DynamoUsageStore, UsageTables

    return DynamoUsageStore(connected.clients["dynamodb"], UsageTables.from_env(connected.env))


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    balance = commands.add_parser("balance", help="a tenant's balance and ledger (local stack)")
    balance.add_argument("--tenant", required=True)
    balance.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    balance.add_argument("--json", action="store_true")
    balance.set_defaults(handler=run_balance)

    breakout = commands.add_parser(
        "breakout", help="per day and destination (local stack, or offline from a CDR file)"
    )
    breakout.add_argument("--tenant", help="the tenant (local stack); optional offline")
    breakout.add_argument("--from", dest="day_from", help="first UTC day, YYYY-MM-DD")
    breakout.add_argument("--to", dest="day_to", help="last UTC day, YYYY-MM-DD")
    breakout.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    breakout.add_argument("--json", action="store_true")
    breakout_command.extend(breakout)  # CSV, HTML, margin, offline (issue 8)


def register_local_actions(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    card = actions.add_parser("load-card", help="store a native rate card in the local stack")
    card.add_argument("--card", type=Path, required=True)
    card.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    card.set_defaults(handler=run_load_card)

    tenant = actions.add_parser("add-tenant", help="create or replace a tenant")
    tenant.add_argument("--tenant", required=True)
    tenant.add_argument("--card", required=True, help="name of a loaded card")
    tenant.add_argument("--currency", required=True)
    tenant.add_argument("--mode", choices=[m.value for m in BillingMode], default="prepaid")
    tenant.add_argument("--timezone")
    tenant.add_argument("--credit", default="0", help="opening wallet top-up")
    tenant.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    tenant.set_defaults(handler=run_add_tenant)

    drop = actions.add_parser("drop", help="upload a CDR file under tenants/<tenant>/")
    drop.add_argument("--tenant", required=True)
    drop.add_argument("file", type=Path)
    drop.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    drop.set_defaults(handler=run_drop)


def run_balance(args: argparse.Namespace) -> int:
    """Balance, ledger sum (they must agree) and the call status the switch would get."""
    connected = connect(args.state_dir)
    store = _store(connected)
    balance, ledger = store.balance(args.tenant), store.ledger_sum(args.tenant)
    settings = tenant_settings(connected, args.tenant)
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    spend = sum((row["cost"] for row in store.breakouts(args.tenant, today, today)), Decimal(0))
    status = call_status(settings, balance, spend)
    if args.json:
        print(
            json.dumps(
                {
                    "tenant": args.tenant,
                    "mode": str(settings.mode),
                    "balance": str(balance),
                    "ledger_sum": str(ledger),
                    "consistent": balance == ledger,
                    "currency": settings.currency,
                    "spend_today": str(spend),
                    "inbound_allowed": status.inbound_allowed,
                    "outbound_allowed": status.outbound_allowed,
                    "international_allowed": status.international_allowed,
                    "reasons": list(status.reasons),
                }
            )
        )
    else:
        print(
            f"{args.tenant} ({settings.mode}): balance {balance} {settings.currency} "
            f"(ledger sum {ledger}{', consistent' if balance == ledger else ', MISMATCH'})"
        )
        print(
            f"  inbound {'allowed' if status.inbound_allowed else 'blocked'}, outbound "
            f"{'allowed' if status.outbound_allowed else 'blocked'}, international "
            f"{'allowed' if status.international_allowed else 'blocked'}, emergency allowed"
        )
        for reason in status.reasons:
            print(f"  - {reason}")
    return 0 if balance == ledger else 1


def run_load_card(args: argparse.Namespace) -> int:
    from shared.adapters.dynamodb import DynamoCardStore

    connected = connect(args.state_dir)
    document = read_document(args.card)
    DynamoCardStore(connected.clients["dynamodb"], connected.env["RATE_CARDS_TABLE"]).put(document)
    print(f"card {document.get('card')} loaded")
    return 0


def run_add_tenant(args: argparse.Namespace) -> int:
    from shared.adapters.dynamodb import DynamoTenantDirectory

    connected = connect(args.state_dir)
    settings = TenantSettings(
        tenant_id=args.tenant,
        card=args.card,
        currency=args.currency,
        mode=BillingMode(args.mode),
        timezone=args.timezone,
    )
    DynamoTenantDirectory(connected.clients["dynamodb"], connected.env["TENANTS_TABLE"]).put(
        settings
    )
    credit = Decimal(args.credit)
    if credit:
        _store(connected).credit(args.tenant, "topup#opening", credit, args.currency)
    print(f"tenant {args.tenant} ({args.mode}, card {args.card})")
    return 0


def run_drop(args: argparse.Namespace) -> int:
    connected = connect(args.state_dir)
    key = f"tenants/{args.tenant}/{args.file.name}"
    connected.clients["s3"].put_object(
        Bucket=connected.bucket, Key=key, Body=args.file.read_bytes()
    )
    print(f"s3://{connected.bucket}/{key}")
    return 0
