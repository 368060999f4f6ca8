"""``billing demo``: the main job end to end on the embedded local stack.

Starts moto's server with every resource of template.yaml, loads a rate card and three
tenants (prepaid, postpaid, and one fed by real switch files), drops CDR files into the
bucket, lets S3 → SQS → the real rate_call handler (in-process) rate them, then prints
balances, breakouts and rejects per tenant.

Then payments (SPEC section 6), on a fake Stripe server (localstripe) and the local
``POST /stripe/webhook`` endpoint in front of the real stripe_webhook handler: two prepaid
tenants save a card, rated usage takes each wallet below its threshold, rate_call's
low-balance events reach RechargeQueue through the template's rule and the real
wallet_recharge handler charges each default card off-session. One card succeeds (its signed
``payment_intent.succeeded`` webhook arrives from localstripe, one credit); the other is
declined (back-off, an email through SES, no retry during the back-off). Last, part of the
top-up is refunded on the fake Stripe and its signed ``charge.refunded`` is delivered twice:
one debit. Everything started is stopped at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import json
import secrets
import tempfile
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

from shared.domain.errors import ValidationError
from shared.domain.tenants import BillingMode, Numbering, TenantSettings
from shared.local.generate import callees_for, retail_card, write_cdrs

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "acceptance" / "samples"
SWITCH_SAMPLES = (
    "asterisk_cdr_csv_Master_newcdrcolumns__mineevburyat-dj-asterisk-cdr__pseudonymized.csv",
    "asterisk_cdr_custom_Master__KelySaina-cdr.csv",
    "freeswitch_cdr_csv_Master__Kxingyunliushui-freeswitch_tools.csv",
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("demo", help="run the end-to-end demo on the local stack")
    parser.add_argument("--rows", type=int, default=10_000, help="CDRs for the prepaid tenant")
    parser.add_argument("--invoices-dir", type=Path,
                        help="where the month end's invoice PDFs are downloaded (default: a "
                        "new temporary directory)")
    parser.set_defaults(handler=run)


def _tenants() -> list[TenantSettings]:
    return [
        TenantSettings(
            tenant_id="acme-voip",
            name="Acme VoIP (prepaid)",
            card="retail-usd",
            currency="USD",
            mode=BillingMode.PREPAID,
            low_balance_threshold=Decimal("25.00"),
            recharge_amount=Decimal("100.00"),
            daily_spend_cap=Decimal("500.00"),
        ),
        TenantSettings(
            tenant_id="globex-pbx",
            name="Globex PBX (postpaid)",
            card="retail-usd",
            currency="USD",
            mode=BillingMode.POSTPAID,
            credit_limit=Decimal("1000.00"),
        ),
        TenantSettings(
            tenant_id="initech",
            name="Initech (real switch files)",
            card="retail-usd",
            currency="USD",
            mode=BillingMode.PREPAID,
            timezone="Europe/Moscow",
            numbering=Numbering(country_code="7", trunk_prefix="8"),
        ),
    ]


#: the most CDRs the demo generates for its prepaid tenant (ten million is hours of rating)
MAX_ROWS = 1_000_000


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.rows <= MAX_ROWS:
        raise ValidationError(f"--rows must be between 1 and {MAX_ROWS}, got {args.rows}")
    from shared.adapters.dynamodb import (
        DynamoCardStore,
        DynamoTenantDirectory,
        DynamoUsageStore,
        UsageTables,
    )
    from shared.local.dispatcher import LocalDispatcher, function_environment, load_handler
    from shared.local.stack import LocalStack
    from shared.observability import log_level

    started = time.perf_counter()
    stack = LocalStack(quiet=True)
    stack.start()
    try:
        env = {**stack.function_environment("RateCallFunction"), **stack.aws_environment()}
        print(
            f"local stack on {stack.endpoint_url}: "
            f"{len(stack.resources)} resources from template.yaml\n"
        )
        dynamodb, s3, sqs = stack.client("dynamodb"), stack.client("s3"), stack.client("sqs")
        tables = UsageTables.from_env(env)
        store = DynamoUsageStore(dynamodb, tables)
        card = retail_card()
        DynamoCardStore(dynamodb, env["RATE_CARDS_TABLE"]).put(card)
        directory = DynamoTenantDirectory(dynamodb, env["TENANTS_TABLE"])
        for tenant in _tenants():
            directory.put(tenant)
        # enough that the default 10,000 rows (about 980 USD) leave acme above its threshold:
        # it has no card; the payments part below shows a wallet going under and recharged
        store.credit("acme-voip", "topup#demo-opening", Decimal("2000.00"), "USD")
        store.credit("initech", "topup#demo-opening", Decimal("10.00"), "USD")
        print(
            f"card {card['card']}: {len(card['rates'])} rates; tenants: "
            + ", ".join(t.tenant_id for t in _tenants())
            + "\n"
        )

        bucket = stack.resources["CdrBucket"].ref
        drops = _drops(args.rows, card)
        for key, data in drops:
            s3.put_object(Bucket=bucket, Key=key, Body=data)
        print(f"dropped {len(drops)} files into s3://{bucket}/tenants/…")

        queue = stack.resources["CdrQueue"]
        quiet = {"POWERTOOLS_METRICS_DISABLED": "true"}  # no metric blobs on the demo's stdout
        with function_environment({**env, **quiet}), log_level("WARNING"):
            handler = load_handler(stack, "RateCallFunction")
            dispatcher = LocalDispatcher(
                sqs,
                queue.ref,
                queue.arn or "",
                stack.region,
                handler,
                function_name="rate_call",
            )
            rating_started = time.perf_counter()
            stats = dispatcher.drain()
            elapsed = time.perf_counter() - rating_started
        print(
            f"rate_call handled {stats.delivered} messages in {stats.batches} batches "
            f"({stats.failed} failed) in {elapsed:.1f} s\n"
        )
        for tenant in _tenants():
            _report(tenant, store, s3, bucket)
        dlq = stack.resources["CdrDeadLetterQueue"].ref
        waiting = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
        print(f"dead-letter queue: {waiting.get('ApproximateNumberOfMessages', '0')} messages\n")
        invoices_dir = args.invoices_dir or Path(tempfile.mkdtemp(prefix="billing-invoices-"))
        _payments(stack, invoices_dir)
    finally:
        stack.stop()
    print(f"local stack stopped; demo took {time.perf_counter() - started:.1f} s")
    return 0


def _drops(rows: int, card: dict[str, Any]) -> list[tuple[str, bytes]]:
    callees = callees_for(card)
    files: list[tuple[str, bytes]] = []
    for tenant, count, seed in (("acme-voip", rows, 1), ("globex-pbx", max(1, rows // 4), 2)):
        out = io.StringIO()
        write_cdrs(out, count, tenant, callees, seed=seed)
        data = out.getvalue().encode()
        files.append((f"tenants/{tenant}/2026/10/cdrs.csv", data))
    # the same prepaid file again under another key: every call a duplicate, none charged
    files.append(("tenants/acme-voip/2026/10/cdrs-resent.csv", files[0][1]))
    # a file with a row for another tenant, a bad row and a call to a number with no rate
    files.append(
        (
            "tenants/globex-pbx/2026/10/mixed.csv",
            (
                b"call_id,tenant,callee,start_time,answer_time,billsec\n"
                b"x1,globex-pbx,442071234567,2026-10-30T10:00:00Z,2026-10-30T10:00:03Z,61\n"
                b"x2,acme-voip,442071234567,2026-10-30T10:00:00Z,2026-10-30T10:00:03Z,61\n"
                b"x3,globex-pbx,442071234567,yesterday,2026-10-30T10:00:03Z,61\n"
            ),
        )
    )
    for name in SWITCH_SAMPLES:
        path = SAMPLES / name
        if path.is_file():
            files.append((f"tenants/initech/switch/{name}", path.read_bytes()))
    return files


def _report(tenant: TenantSettings, store: Any, s3: Any, bucket: str) -> None:
    name = tenant.tenant_id
    balance, ledger = store.balance(name), store.ledger_sum(name)
    # a postpaid balance is minus the usage no invoice has billed yet (invoices credit it)
    label = (f"wallet {balance}" if tenant.mode is BillingMode.PREPAID
             else f"unbilled usage {0 - balance}")
    print(
        f"== {tenant.name}: {label} {tenant.currency} "
        f"(ledger sum {ledger}{', equal' if balance == ledger else ', MISMATCH'})"
    )
    results = s3.list_objects_v2(Bucket=bucket, Prefix=f"results/{name}/").get("Contents", [])
    for item in results:
        summary = json.loads(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
        print(
            f"   {summary.get('key', '?').split('/')[-1]:<48} rows {summary.get('rows', 0):>6}"
            f"  rated {summary.get('rated', 0):>6}  unanswered {summary.get('unanswered', 0):>5}"
            f"  rejected {summary.get('rejected', 0):>3}  duplicates "
            f"{summary.get('duplicates', 0):>6}  merged {summary.get('merged', 0):>3}"
            f"  cost {summary.get('total_cost', '0')}"
        )
    rows = sorted(store.breakouts(name), key=lambda row: -row["cost"])[:5]
    if rows:
        print("   top breakouts (day, destination, attempts, answered, ASR, ACD, cost):")
    for row in rows:
        attempts, answered = row["attempts"], row["answered"]
        asr = f"{100 * answered / attempts:.0f}%" if attempts else "-"
        acd = f"{row['billed_ms'] / 1000 / answered:.0f}s" if answered else "-"
        print(
            f"     {row['day']} {row['destination']:<24} {attempts:>5} {answered:>5} "
            f"{asr:>5} {acd:>6} {row['cost']:>10}"
        )
    rejects = s3.list_objects_v2(Bucket=bucket, Prefix=f"rejects/{name}/").get("Contents", [])
    shown = 0
    for item in rejects:
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        text = body.decode("utf-8", "backslashreplace")  # rejects keep undecodable bytes
        for line in text.splitlines()[1:]:
            if shown < 4:
                print(f"   reject: {line[:110]}")
            shown += 1
    if shown > 4:
        print(f"   … {shown - 4} more rejects under s3://{bucket}/rejects/{name}/")
    print()


# ------------------------------------------------------------------------------ payments

#: SES sends the tenants' notices from this (verified) address
SENDER = "billing@telecom-billing.test"
#: the two prepaid tenants of the payments part: each opens at 30.00 USD (threshold 25.00)
OPENING = Decimal("30.00")


def _payment_tenants() -> list[TenantSettings]:
    return [
        TenantSettings(
            tenant_id=tenant_id, name=name, card="retail-usd", currency="USD",
            mode=BillingMode.PREPAID, low_balance_threshold=Decimal("25.00"),
            recharge_amount=Decimal("100.00"),
        )
        for tenant_id, name in (
            ("hooli-voip", "Hooli VoIP (prepaid, good card)"),
            ("wayne-tel", "Wayne Tel (prepaid, card declined)"),
        )
    ]


def _usage(tenant: str) -> bytes:
    """Two answered 20-minute calls to China, which the card rates as Rest of world at 0.25
    USD a minute (per whole minute): 2 x 5.00 = 10.00 USD, so 30.00 → 20.00 crosses 25.00."""
    header = b"call_id,tenant,callee,start_time,answer_time,billsec\n"
    rows = [
        f"{tenant}-{n},{tenant},8613800138000,2026-11-02T10:0{n}:00Z,2026-11-02T10:0{n}:05Z,"
        "1200\n".encode()
        for n in (1, 2)
    ]
    return header + b"".join(rows)


def _payments(stack: Any, invoices_dir: Path) -> None:
    from shared.adapters.dynamodb import DynamoTenantDirectory, DynamoUsageStore, UsageTables
    from shared.adapters.events import EventBridgePublisher
    from shared.adapters.payments_store import DynamoPaymentRecords
    from shared.adapters.stripe_gateway import StripeGateway
    from shared.local.dispatcher import function_environment, load_handler
    from shared.local.fake_stripe import CARD_DECLINED, CARD_OK, FAKE_API_KEY, FakeStripe
    from shared.local.webhook_endpoint import WebhookEndpoint
    from shared.observability import log_level
    from shared.services.cards import CardDeps, save_card
    from shared.wiring import (
        stripe_webhook_deps,
        stripe_webhook_settings,
        wallet_recharge_deps,
        wallet_recharge_settings,
    )

    print("== payments: fake Stripe (localstripe) and POST /stripe/webhook on 127.0.0.1")
    fake = FakeStripe()
    endpoint: WebhookEndpoint | None = None
    caches = (wallet_recharge_deps, wallet_recharge_settings,
              stripe_webhook_deps, stripe_webhook_settings)
    secret = "whsec_demo_" + secrets.token_hex(16)
    try:
        fake.start()
        # one environment for the three functions (they agree on every shared name), so the
        # webhook thread and the main thread never see each other's half-applied variables
        env = {
            **stack.function_environment("RateCallFunction"),
            **stack.function_environment("WalletRechargeFunction"),
            **stack.function_environment("StripeWebhookFunction"),
            **stack.function_environment("InvoiceCycleFunction"),
            **stack.aws_environment(),
            "STRIPE_API_KEY": FAKE_API_KEY,
            "STRIPE_API_BASE": fake.api_base,
            "STRIPE_WEBHOOK_SECRET": secret,
            "NOTIFICATION_SENDER": SENDER,
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        with function_environment(env), log_level("WARNING"):
            for cache in caches:
                cache.cache_clear()  # a cold start on this stack and this fake Stripe
            endpoint = WebhookEndpoint(load_handler(stack, "StripeWebhookFunction"), env).start()
            fake.request("POST", "/_config/webhooks/billing-demo",
                         {"url": endpoint.url, "secret": secret})
            print(f"   localstripe {fake.api_base} signs its events for {endpoint.url}")

            dynamodb, s3, sqs = (stack.client(name) for name in ("dynamodb", "s3", "sqs"))
            stack.client("ses").verify_email_identity(EmailAddress=SENDER)
            store = DynamoUsageStore(dynamodb, UsageTables.from_env(env))
            records = DynamoPaymentRecords(dynamodb, env["PAYMENTS_TABLE"])
            directory = DynamoTenantDirectory(dynamodb, env["TENANTS_TABLE"])
            cards = CardDeps(directory, records, StripeGateway(FAKE_API_KEY, fake.api_base))
            good, declining = _payment_tenants()
            for tenant, number in ((good, CARD_OK), (declining, CARD_DECLINED)):
                directory.put(tenant)
                store.credit(tenant.tenant_id, "topup#demo-opening", OPENING, "USD")
                method = fake.request("POST", "/v1/payment_methods", {
                    "type": "card", "card[number]": number, "card[exp_month]": "12",
                    "card[exp_year]": "2034", "card[cvc]": "123",
                })
                setup = save_card(tenant.tenant_id, cards, method["id"])
                records.link(f"stripe#{tenant.tenant_id}", tenant.tenant_id,
                             {"email": f"billing@{tenant.tenant_id}.test"})
                print(f"   {tenant.tenant_id}: card ending {number[-4:]} saved (SetupIntent "
                      f"{setup.status}, customer {records.customer_of(tenant.tenant_id)}), "
                      f"wallet {store.balance(tenant.tenant_id)} USD, threshold "
                      f"{tenant.low_balance_threshold}, recharge {tenant.recharge_amount}")

            # usage: rate_call rates each tenant's file and publishes WalletLowBalance when a
            # commit takes the wallet under its threshold; LowBalanceRule fills RechargeQueue
            bucket = stack.resources["CdrBucket"].ref
            for tenant in (good, declining):
                s3.put_object(Bucket=bucket, Key=f"tenants/{tenant.tenant_id}/2026/11/cdrs.csv",
                              Body=_usage(tenant.tenant_id))
            rated = _dispatcher(stack, "CdrQueue", "RateCallFunction").drain()
            recharge_queue = stack.resources["RechargeQueue"].ref
            waiting = sqs.get_queue_attributes(
                QueueUrl=recharge_queue, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
            for tenant in (good, declining):
                print(f"   {tenant.tenant_id}: rated usage took the wallet from {OPENING} to "
                      f"{store.balance(tenant.tenant_id)} USD, under its threshold "
                      f"{tenant.low_balance_threshold}")
            print(f"   rate_call handled {rated.delivered} files; RechargeQueue holds {waiting} "
                  "low-balance events")

            # the recharge: the real wallet_recharge handler, fed by RechargeQueue
            ses = stack.client("ses")
            emails_before = int(ses.get_send_quota()["SentLast24Hours"])
            recharge = _dispatcher(stack, "RechargeQueue", "WalletRechargeFunction")
            stats = recharge.drain()
            print(f"   wallet_recharge handled {stats.delivered} events ({stats.failed} failed)")
            intents = fake.payment_intents(records.customer_of(good.tenant_id))
            print(f"   {good.tenant_id}: PaymentIntents: {len(intents)} — " + ", ".join(
                f"{i['id']} {i['amount'] / 100:.2f} {i['currency'].upper()} {i['status']}"
                for i in intents))
            intent = intents[0]["id"]
            record = _wait_for(records, f"payment_intent#{intent}")
            print(f"   localstripe delivered payment_intent.succeeded {record.get('event')} "
                  f"(signed) to the webhook: intent {record.get('status')}")
            print(f"   the recharge (on Stripe's answer) and the webhook both credit ledger entry "
                  f"topup#{intent}: written once")
            _wallet(store, good.tenant_id)

            # the declined card: backed off, the tenant emailed, no retry during the back-off
            declined = fake.payment_intents(records.customer_of(declining.tenant_id))
            slot = records.slot(declining.tenant_id) or {}
            emails = int(ses.get_send_quota()["SentLast24Hours"]) - emails_before
            wait_s = int(slot.get("retry_after", 0)) - int(time.time())
            print(f"   {declining.tenant_id}: PaymentIntents: {len(declined)} — " + ", ".join(
                f"{i['id']} {i['status']}" for i in declined))
            failed = _wait_for(records, f"payment_intent#{declined[0]['id']}")
            print(f"   localstripe delivered payment_intent.payment_failed {failed.get('event')} "
                  f"(signed) to the webhook: intent {failed.get('status')}")
            code = slot.get("decline_code")
            print(f"   {declining.tenant_id}: recharge {slot.get('outcome')}"
                  f"{f' ({code})' if code else ''}, declines {slot.get('declines')}, "
                  f"next try in {round(wait_s / 3600)} h; emails sent: {emails}")
            EventBridgePublisher(stack.client("events"), "default").low_balance(
                declining.tenant_id, store.balance(declining.tenant_id),
                declining.low_balance_threshold, "USD",
            )
            again = recharge.drain()
            after = fake.payment_intents(records.customer_of(declining.tenant_id))
            emails = int(ses.get_send_quota()["SentLast24Hours"]) - emails_before
            print(f"   another low-balance event during the back-off ({again.delivered} "
                  f"handled): PaymentIntents still {len(after)}, emails sent still {emails}")
            _wallet(store, declining.tenant_id)

            # a refund of 30.00 of the top-up on the fake Stripe; localstripe sends no refund
            # events, so its charge.refunded is built from the charge it now holds and signed
            # with our secret, like Stripe would, and delivered twice
            refund = fake.request("POST", "/v1/refunds",
                                  {"payment_intent": intent, "amount": "3000"})
            charge = fake.request("GET", f"/v1/charges/{refund['charge']}")
            payload = _event("charge.refunded", charge)
            answers = [_post(endpoint.url, payload, secret) for _ in range(2)]
            print(f"   refund {refund['id']} of {refund['amount'] / 100:.2f} USD; "
                  "charge.refunded delivered twice: " + ", ".join(
                      f"{status} {body.get('outcome')}" for status, body in answers))
            _wallet(store, good.tenant_id)
            with log_level("ERROR"):  # warnings here are the story, printed below
                _month_end(stack, fake, env, invoices_dir)
    finally:
        if endpoint is not None:
            endpoint.stop()
        fake.stop()
        for cache in caches:
            cache.cache_clear()  # nothing keeps clients of a stopped stack
    print("fake stripe and webhook endpoint stopped")


def _dispatcher(stack: Any, queue_id: str, function_id: str) -> Any:
    """The queue delivered to the function's real handler in-process, as Lambda's SQS
    trigger would (the caller has set the function's environment)."""
    from shared.local.dispatcher import LocalDispatcher, load_handler

    queue = stack.resources[queue_id]
    return LocalDispatcher(
        stack.client("sqs"), queue.ref, queue.arn or "", stack.region,
        load_handler(stack, function_id), function_name=function_id,
    )


def _wait_for(records: Any, key: str, timeout_s: float = 15.0) -> dict[str, Any]:
    """A payment record the webhook writes (localstripe delivers about a second later)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = records.get(key)
        if found is not None and found.get("event"):
            return dict(found)
        if time.monotonic() > deadline:
            return {"status": "not delivered", "event": None}
        time.sleep(0.1)


def _wallet(store: Any, tenant: str) -> None:
    balance, ledger = store.balance(tenant), store.ledger_sum(tenant)
    entries = store.ledger_entries(tenant)
    shown = ", ".join(f"{e.entry_id} {e.amount}" for e in entries if e.kind in {"topup", "refund"}
                      and e.entry_id != "topup#demo-opening")
    print(f"   {tenant}: wallet {balance} USD (ledger sum {ledger}"
          f"{', equal' if balance == ledger else ', MISMATCH'}); payments: {shown or 'none'}")


def _event(event_type: str, obj: dict[str, Any]) -> bytes:
    """A Stripe event envelope around ``obj``, as the bytes Stripe would post."""
    created = int(time.time())
    return json.dumps({
        "id": f"evt_demo_{secrets.token_hex(8)}", "object": "event", "type": event_type,
        "created": created, "livemode": False, "pending_webhooks": 1,
        "api_version": "2024-06-20", "data": {"object": obj},
        "request": {"id": None, "idempotency_key": None},
    }).encode()


def _post(url: str, payload: bytes, secret: str) -> tuple[int, dict[str, Any]]:
    """POST a body with the ``Stripe-Signature`` Stripe computes (HMAC-SHA256 of ``t.body``)."""
    stamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
    request = urllib.request.Request(url, data=payload, method="POST", headers={
        "Content-Type": "application/json",
        "Stripe-Signature": f"t={stamp},v1={digest.hexdigest()}",
    })
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


# ------------------------------------------------------------------------------ month end

#: the month-end part's clock: every scheduled run below is an EventBridge event at these
#: times (the jobs take the event's time as now), so the demo walks through weeks at once
INVOICE_RUN = "2026-11-02T02:00:00Z"
OVERDUE_RUN = "2026-11-17T02:00:00Z"  # the day after the due date (issue + 14 days)
#: days 7, 13 and 14 past the due date 2026-11-16: warned, warned, suspended
SUSPENSION_RUNS = ("2026-11-23T06:00:00Z", "2026-11-29T06:00:00Z", "2026-11-30T06:00:00Z")


def _invoice_tenants() -> list[TenantSettings]:
    return [
        TenantSettings(
            tenant_id=tenant_id, name=name, card="retail-usd", currency="USD",
            mode=BillingMode.POSTPAID,
        )
        for tenant_id, name in (
            ("umbrella-pbx", "Umbrella PBX (postpaid, auto-pay)"),
            ("cyberdyne-pbx", "Cyberdyne PBX (postpaid, card declined)"),
        )
    ]


def _october_calls(tenant: str, calls: int) -> bytes:
    """``calls`` answered 20-minute calls to China in October: Rest of world at 0.25 USD a
    minute, 5.00 USD each."""
    header = b"call_id,tenant,callee,start_time,answer_time,billsec\n"
    return header + b"".join(
        f"{tenant}-oct-{n},{tenant},8613800138000,2026-10-1{n}T09:00:00Z,"
        f"2026-10-1{n}T09:00:04Z,1200\n".encode()
        for n in range(1, calls + 1)
    )


def _scheduled(stack: Any, job: str, when: str) -> dict[str, Any]:
    """The event EventBridge delivers when invoice_cycle's rule for ``job`` fires."""
    return {
        "version": "0", "id": f"demo-{job}-{when}", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": stack.account_id, "time": when,
        "region": stack.region, "detail": {},
        "resources": [f"arn:aws:events:{stack.region}:{stack.account_id}:rule/"
                      f"telecom-billing-{stack.parameters['Stage']}-{job}"],
    }


def _month_end(stack: Any, fake: Any, env: dict[str, str], invoices_dir: Path) -> None:
    """October closes: invoice_cycle issues every tenant's invoice with its PDF, auto-pay
    pays one; the declined one goes overdue, is warned and suspended by the daily check,
    is paid with a new card and restored by the payment's webhook in the same call."""
    from shared.adapters.dynamodb import DynamoTenantDirectory, DynamoUsageStore, UsageTables
    from shared.adapters.invoice_store import DynamoInvoiceStore
    from shared.adapters.payments_store import DynamoPaymentRecords
    from shared.adapters.stripe_gateway import StripeGateway
    from shared.local.dispatcher import LocalLambdaContext, load_handler
    from shared.local.fake_stripe import CARD_DECLINED, CARD_OK, FAKE_API_KEY
    from shared.services.cards import CardDeps, save_card, set_default
    from shared.services.invoice_payments import AutopayDeps, pay_now
    from shared.wiring import _invoice_cycle_base, invoice_cycle_settings

    print(f"\n== month end: invoice_cycle's schedules fired with the clock at {INVOICE_RUN}")
    dynamodb, s3 = stack.client("dynamodb"), stack.client("s3")
    records = DynamoPaymentRecords(dynamodb, env["PAYMENTS_TABLE"])
    directory = DynamoTenantDirectory(dynamodb, env["TENANTS_TABLE"])
    store = DynamoInvoiceStore(dynamodb, env["INVOICES_TABLE"], env["PAYMENTS_TABLE"])
    gateway = StripeGateway(FAKE_API_KEY, fake.api_base)
    cards = CardDeps(directory, records, gateway)
    good, declining = _invoice_tenants()
    for tenant, number, calls in ((good, CARD_OK, 2), (declining, CARD_DECLINED, 1)):
        directory.put(tenant)
        method = fake.request("POST", "/v1/payment_methods", {
            "type": "card", "card[number]": number, "card[exp_month]": "12",
            "card[exp_year]": "2034", "card[cvc]": "123",
        })
        save_card(tenant.tenant_id, cards, method["id"])
        records.link(f"stripe#{tenant.tenant_id}", tenant.tenant_id,
                     {"email": f"billing@{tenant.tenant_id}.test"})
        s3.put_object(Bucket=stack.resources["CdrBucket"].ref,
                      Key=f"tenants/{tenant.tenant_id}/2026/10/cdrs.csv",
                      Body=_october_calls(tenant.tenant_id, calls))
        print(f"   {tenant.tenant_id}: postpaid, card ending {number[-4:]}, {calls} October "
              f"call{'s' if calls > 1 else ''} of 20 minutes to China")
    _dispatcher(stack, "CdrQueue", "RateCallFunction").drain()

    for cache in (_invoice_cycle_base, invoice_cycle_settings):
        cache.cache_clear()  # a cold invoice_cycle on this stack and this fake Stripe
    cycle = load_handler(stack, "InvoiceCycleFunction")

    def fire(job: str, when: str) -> dict[str, Any]:
        result: dict[str, Any] = cycle(_scheduled(stack, job, when),
                                       LocalLambdaContext(function_name="invoice_cycle"))
        return result

    issued = fire("invoice-run", INVOICE_RUN)
    again = fire("invoice-run", INVOICE_RUN)  # the schedule firing twice issues nothing
    print(f"   invoice-run issued {len(issued['issued'])} invoices; fired again: "
          f"{len(again['issued'])} more")
    invoices_dir.mkdir(parents=True, exist_ok=True)
    for listed in store.all_invoices():
        invoice = store.get(listed.tenant, listed.period) or listed
        size = 0
        if invoice.pdf_key:
            pdf = s3.get_object(Bucket=env["INVOICE_BUCKET"], Key=invoice.pdf_key)["Body"].read()
            (invoices_dir / f"{invoice.number}.pdf").write_bytes(pdf)
            size = len(pdf)
        print(f"   {invoice.number} {invoice.tenant:<14} {invoice.period} {invoice.status:<15}"
              f" total {invoice.total:>8} {invoice.currency}, balance due "
              f"{invoice.balance_due:>8}; PDF {invoice.pdf_key} ({size} bytes)")
    print(f"   PDFs downloaded to {invoices_dir}")
    usage = DynamoUsageStore(dynamodb, UsageTables.from_env(env))
    for tenant in (good, declining):
        # the issue credited the usage it billed (invoiced#<number>): nothing is unbilled
        balance, ledger = usage.balance(tenant.tenant_id), usage.ledger_sum(tenant.tenant_id)
        print(f"   {tenant.tenant_id}: unbilled usage {0 - balance} {tenant.currency} once "
              f"invoiced (ledger sum {ledger}{', equal' if balance == ledger else ', MISMATCH'})")

    paid = store.get(good.tenant_id, "2026-10")
    assert paid is not None
    intents = fake.payment_intents(records.customer_of(good.tenant_id))
    print(f"   {good.tenant_id}: auto-pay PaymentIntents: {len(intents)} — " + ", ".join(
        f"{i['id']} {i['amount'] / 100:.2f} {i['currency'].upper()} {i['status']}"
        for i in intents) + f"; {paid.number} {paid.status}, paid {paid.paid}")
    unpaid = store.get(declining.tenant_id, "2026-10")
    assert unpaid is not None
    print(f"   {declining.tenant_id}: auto-pay {unpaid.autopay.get('outcome')}; "
          f"{unpaid.number} {unpaid.status}, {unpaid.balance_due} due {unpaid.due_date}")

    fire("invoice-run", OVERDUE_RUN)
    late = store.get(declining.tenant_id, "2026-10")
    print(f"   {OVERDUE_RUN[:10]} invoice-run: {late.number if late else '?'} "
          f"{late.status if late else '?'}")
    for when in SUSPENSION_RUNS:
        report = fire("suspension-check", when)
        state = directory.get(declining.tenant_id)
        print(f"   {when[:10]} suspension-check: warned {', '.join(report['warned']) or 'none'}; "
              f"suspended {', '.join(report['suspended']) or 'none'}; {declining.tenant_id} "
              f"is {state.status if state else '?'}")

    # the tenant adds a working card and pays what is due now; localstripe's signed
    # payment_intent.succeeded reaches the webhook, which settles and restores in one call
    method = fake.request("POST", "/v1/payment_methods", {
        "type": "card", "card[number]": CARD_OK, "card[exp_month]": "12",
        "card[exp_year]": "2034", "card[cvc]": "123",
    })
    save_card(declining.tenant_id, cards, method["id"])
    set_default(declining.tenant_id, method["id"], cards)
    result = pay_now(declining.tenant_id, None, "demo-pay-1",
                     AutopayDeps(store, gateway, records))
    record = _wait_for(records, f"payment_intent#{result.intent_id}")
    settled = store.get(declining.tenant_id, "2026-10")
    restored = _wait_for_status(directory, declining.tenant_id, "active")
    print(f"   {declining.tenant_id}: new card, pay now {result.outcome} ({result.intent_id}); "
          f"localstripe delivered payment_intent.succeeded {record.get('event')} (signed) to "
          f"the webhook; {settled.number if settled else '?'} "
          f"{settled.status if settled else '?'}, balance due "
          f"{settled.balance_due if settled else '?'}; account {restored}")


def _wait_for_status(directory: Any, tenant: str, wanted: str, timeout_s: float = 15.0) -> str:
    """The tenant's status once it is ``wanted`` (the webhook arrives about a second after
    the payment), or whatever it is when the wait ends."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = directory.get(tenant)
        status = str(found.status) if found else "unknown"
        if status == wanted or time.monotonic() > deadline:
            return status
        time.sleep(0.1)
