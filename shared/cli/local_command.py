"""``billing local up`` / ``billing local down``: the embedded local stack (SPEC section 10).

``up`` starts moto's server on 127.0.0.1, creates the resources of ``template.yaml`` in it,
prints the endpoint and the resource names, writes them to ``.local-stack/state.json`` and
runs until Ctrl-C or SIGTERM. It also serves ``POST /stripe/webhook`` on 127.0.0.1 with the
real stripe_webhook handler (``shared.local.webhook_endpoint``), signed with
``STRIPE_WEBHOOK_SECRET`` or a generated secret that it prints and keeps in the state file,
next to the fake Stripe server for ``billing cards`` / ``billing topup``: ``STRIPE_API_BASE``
if set, else localstripe, which it starts and stops (``--no-fake-stripe`` to skip).
``down`` stops the stack that state file names, from another terminal or a script.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from shared.local.stack_errors import LocalStackError

if TYPE_CHECKING:  # the stack pulls in boto3: only `local up` needs it, not `billing rate`
    from shared.local.stack import LocalStack

DEFAULT_STATE_DIR = Path(".local-stack")
#: a fake Stripe server (localstripe) for the card and top-up commands, e.g. http://127.0.0.1:8420
STRIPE_API_BASE_VARIABLE = "STRIPE_API_BASE"
STATE_FILE = "state.json"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "local", help="run the local stack (moto's server on 127.0.0.1, built from template.yaml)"
    )
    actions = parser.add_subparsers(dest="local_action", required=True, metavar="ACTION")

    up = actions.add_parser("up", help="start the local stack and keep it running")
    up.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    up.add_argument(
        "--template", type=Path, default=None, help="SAM template (default: template.yaml)"
    )
    _add_state_dir(up)
    up.add_argument(
        "--webhook-port", type=int, default=0,
        help="port of POST /stripe/webhook on 127.0.0.1 (default: a free one)",
    )
    up.add_argument(
        "--no-fake-stripe",
        action="store_true",
        help="do not start localstripe (it is started unless STRIPE_API_BASE names a fake Stripe)",
    )
    up.add_argument(
        "--no-dispatch",
        action="store_true",
        help="do not deliver CDR queue messages to the rate_call handler in this process",
    )
    up.set_defaults(handler=run_up)

    down = actions.add_parser("down", help="stop the local stack started by `billing local up`")
    down.add_argument(
        "--timeout", type=float, default=15.0, help="seconds to wait for it to stop (default 15)"
    )
    _add_state_dir(down)
    down.set_defaults(handler=run_down)

    from shared.cli.stack_commands import register_local_actions  # it imports this module

    register_local_actions(actions)


def _add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="where state.json is kept (default .local-stack)",
    )


def run_up(args: argparse.Namespace) -> int:
    state_path: Path = args.state_dir / STATE_FILE
    running = _read_state(state_path)
    if running is not None and _is_running(running):
        raise LocalStackError(
            f"a local stack is already running (pid {running['pid']}, {running['endpoint']}); "
            "stop it with `billing local down`"
        )

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    from shared.local.stack import DEFAULT_TEMPLATE, LocalStack

    stack = LocalStack(args.template or DEFAULT_TEMPLATE, port=args.port)
    webhook: Any = None
    fake_stripe: Any = None
    try:
        stack.start()
        secret, generated = _webhook_secret()
        webhook = _start_webhook(stack, secret, args.webhook_port)
        api_base = os.environ.get(STRIPE_API_BASE_VARIABLE) or None
        if api_base is None and not args.no_fake_stripe:
            fake_stripe, api_base = _start_fake_stripe(webhook.url, secret)
        state = {
            "pid": os.getpid(), "started_at": time.time(), **stack.describe(),
            "stripe": {
                "webhook_url": webhook.url,
                "webhook_secret": secret,
                "api_base": api_base,
            },
        }
        _write_state(state_path, state)
        _print_summary(stack, state_path)
        print(
            f"stripe webhook: POST {webhook.url} (signing secret {secret}, "
            + ("generated; set STRIPE_WEBHOOK_SECRET to choose it)" if generated
               else "from STRIPE_WEBHOOK_SECRET)"),
            flush=True,
        )
        print(
            f"fake stripe: {api_base} (its events go to the webhook)" if fake_stripe else
            f"fake stripe: {api_base}" if api_base else
            "fake stripe: none (`billing cards` / `billing topup` need STRIPE_API_BASE)",
            flush=True,
        )
        if not args.no_dispatch:
            _start_dispatcher(stack, stop)
        while not stop.wait(0.5):
            pass
        print("stopping the local stack", flush=True)
    finally:
        if webhook is not None:
            webhook.stop()
        if fake_stripe is not None:
            fake_stripe.stop()
        stack.stop()
        current = _read_state(state_path)
        if current is not None and current.get("pid") == os.getpid():
            state_path.unlink()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("local stack stopped", flush=True)
    return 0


def run_down(args: argparse.Namespace) -> int:
    state_path: Path = args.state_dir / STATE_FILE
    state = _read_state(state_path)
    if state is None:
        print(f"no local stack is running (no {state_path})")
        return 0
    if not _is_running(state):
        state_path.unlink(missing_ok=True)
        print(
            f"removed stale {state_path}: pid {state['pid']} no longer serves {state['endpoint']}"
        )
        return 0
    os.kill(int(state["pid"]), signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    # `up` deletes its state file once the server is stopped and its port closed
    while state_path.exists() and _pid_alive(int(state["pid"])):
        if time.monotonic() > deadline:
            raise LocalStackError(
                f"the local stack (pid {state['pid']}) did not stop within {args.timeout:g}s"
            )
        time.sleep(0.1)
    print(f"local stack at {state['endpoint']} stopped (pid {state['pid']})")
    return 0


def _start_dispatcher(stack: LocalStack, stop: threading.Event) -> None:
    """Deliver the CDR queue to the real rate_call handler, as Lambda's SQS trigger would."""
    from shared.local.dispatcher import LocalDispatcher, load_handler

    os.environ.update({**stack.function_environment("RateCallFunction"), **stack.aws_environment()})
    handler = load_handler(stack, "RateCallFunction")
    queue = stack.resources["CdrQueue"]
    dispatcher = LocalDispatcher(
        stack.client("sqs"),
        queue.ref,
        queue.arn or "",
        stack.region,
        handler,
        function_name="rate_call",
    )

    def loop() -> None:
        while not stop.wait(1.0):
            stats = dispatcher.drain(max_batches=100)
            if stats.batches:
                print(
                    f"rate_call: {stats.delivered} messages handled, {stats.failed} failed",
                    flush=True,
                )

    threading.Thread(target=loop, name="rate-call-dispatcher", daemon=True).start()
    print(
        "rate_call dispatcher running: files dropped under tenants/<tenant>/ are rated", flush=True
    )


def _webhook_secret() -> tuple[str, bool]:
    """The local signing secret: ``STRIPE_WEBHOOK_SECRET`` if set, else a fresh one (True)."""
    given = os.environ.get("STRIPE_WEBHOOK_SECRET")
    if given:
        return given, False
    return "whsec_local_" + secrets.token_hex(16), True


def _start_fake_stripe(webhook_url: str, secret: str) -> tuple[Any, str | None]:
    """localstripe on 127.0.0.1 (a free port), delivering its events (payment_intent.succeeded
    and payment_failed) to our webhook endpoint signed with ``secret``; or (None, None) with
    a note when it cannot start (not installed): the stack runs without it."""
    from shared.local.fake_stripe import FakeStripe, FakeStripeError

    server = FakeStripe()
    try:
        server.start()
        server.request("POST", "/_config/webhooks/billing-local",
                       {"url": webhook_url, "secret": secret})
    except (FakeStripeError, OSError) as error:
        server.stop()
        print(f"fake stripe not started: {error}", flush=True)
        return None, None
    return server, server.api_base


def _start_webhook(stack: LocalStack, secret: str, port: int) -> Any:
    """Serve POST /stripe/webhook on 127.0.0.1 with the real stripe_webhook handler, as
    the HTTP API does in AWS."""
    from shared.local.dispatcher import load_handler
    from shared.local.webhook_endpoint import WebhookEndpoint

    environment = {
        **stack.function_environment("StripeWebhookFunction"),
        **stack.aws_environment(),
        "STRIPE_WEBHOOK_SECRET": secret,
    }
    handler = load_handler(stack, "StripeWebhookFunction")
    return WebhookEndpoint(handler, environment, port=port).start()


def _print_summary(stack: LocalStack, state_path: Path) -> None:
    print(
        f"local stack on {stack.endpoint_url} (region {stack.region}, "
        f"account {stack.account_id}, stage {stack.parameters['Stage']})"
    )
    width = max(len(key) for key in stack.resources)
    for logical_id, resource in sorted(stack.resources.items()):
        print(f"  {logical_id:<{width}}  {resource.type:<22}  {resource.ref}")
    print(
        "not emulated (functions run in-process; IAM is not enforced): "
        + ", ".join(sorted(stack.not_emulated))
    )
    for note in stack.skipped:
        print(f"  skipped: {note}")
    print(f"state: {state_path}")
    print(
        "point an AWS SDK at it with: "
        + " ".join(f"{key}={value}" for key, value in stack.aws_environment().items())
    )
    print("running; Ctrl-C or `billing local down` stops it", flush=True)


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise LocalStackError(
            f"{path}: unreadable local stack state ({error}); delete it"
        ) from error
    if not isinstance(state, dict) or not {"pid", "endpoint"} <= state.keys():
        raise LocalStackError(f"{path}: not a local stack state file; delete it")
    return state


def _write_state(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    partial.replace(path)


def _is_running(state: dict[str, Any]) -> bool:
    """The recorded process is alive and its endpoint answers (so a reused pid is not hit)."""
    if not _pid_alive(int(state["pid"])):
        return False
    address = urlsplit(str(state["endpoint"]))
    try:
        with socket.create_connection((address.hostname, address.port), timeout=1):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
