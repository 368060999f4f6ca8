"""``billing status --tenant T [--number N] [--json]``: what the switch may do (local stack).

Inbound and outbound allowed with the reasons when not, emergency numbers always allowed,
and for ``--number`` the longest call the money pays for (``shared.services.account_status``).
Exit 0 when the tenant may place the call (or, without ``--number``, outbound calls), 1 when
blocked, 2 on bad input (one line on stderr, from ``shared.cli.main``).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from shared.cli.local_command import DEFAULT_STATE_DIR
from shared.cli.stack_commands import connect


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status", help="calls a tenant may make now, and the longest call to a number"
    )
    status.add_argument("--tenant", required=True)
    status.add_argument("--number", help="a dialled number: its admission and longest call")
    status.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=run_status)


def run_status(args: argparse.Namespace) -> int:
    from shared.adapters.dynamodb import (
        DynamoCardStore,
        DynamoTenantDirectory,
        DynamoUsageStore,
        UsageTables,
    )
    from shared.services.account_status import (
        StatusDeps,
        account_status,
        report_json,
        report_lines,
    )
    from shared.wiring import compiled_cards

    connected = connect(args.state_dir)
    dynamodb = connected.clients["dynamodb"]
    env = connected.env
    deps = StatusDeps(
        tenants=DynamoTenantDirectory(dynamodb, env["TENANTS_TABLE"]),
        usage=DynamoUsageStore(dynamodb, UsageTables.from_env(env)),
        cards=compiled_cards(DynamoCardStore(dynamodb, env["RATE_CARDS_TABLE"])),
        now=lambda: datetime.now(UTC),
    )
    number = args.number.strip() if args.number is not None else None
    if number == "":
        raise ValueError("--number is empty")
    report = account_status(args.tenant, number, deps)
    if args.json:
        print(json.dumps(report_json(report)))
    else:
        print("\n".join(report_lines(report)))
    allowed = report.number.allowed if report.number else report.status.outbound_allowed
    return 0 if allowed else 1
