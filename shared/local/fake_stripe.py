"""A fake Stripe server for the local stack and the tests: localstripe (PyPI), as a subprocess
on 127.0.0.1 and a free port, started and stopped by our code (SPEC section 10).

``FakeStripe().start()`` runs ``python -m shared.local.fake_stripe`` (this module), which
serves localstripe's aiohttp app on a socket bound to 127.0.0.1 port 0 and prints the port it
got, so two fakes (two test sessions) never race for a port. ``api_base`` is what
``StripeGateway(api_key, api_base)`` and ``STRIPE_API_BASE`` take.

Four things differ from localstripe run as ``localstripe --port N``, each to keep it closer
to Stripe or to keep runs apart:

* it listens on 127.0.0.1 only (localstripe binds every interface);
* its store stays in memory (localstripe pickles it to ``/tmp/localstripe.pickle`` after
  every write and reloads it at start, which would leak one run's customers into the next);
* a PaymentIntent has ``amount_received`` (Stripe's field for what was captured: the amount
  once succeeded, else 0), which localstripe leaves out;
* PaymentIntents are listed newest first and may be filtered by ``customer``, as on Stripe
  (localstripe refuses the filter).

What localstripe cannot do, and tests must not rely on: it ignores ``Idempotency-Key`` (every
create is a new object, so "no double charge" is proven by our own recharge record), and it
emits only ``payment_intent.succeeded`` / ``payment_intent.payment_failed`` webhooks.

Test cards (localstripe's lists): 4242424242424242 succeeds; 4000000000000341 attaches but
every charge is declined; 4000002760003184 needs authentication (3-D Secure).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import IO, Any

from shared.domain.errors import BillingError

LOCAL_HOST = "127.0.0.1"
#: localstripe accepts any key; this one is recognisably fake
FAKE_API_KEY = "sk_test_localstripe"

CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000341"
CARD_AUTHENTICATION = "4000002760003184"


class FakeStripeError(BillingError):
    """localstripe is not installed, did not start, or did not answer."""


@dataclass
class FakeStripe:
    """One localstripe process; ``start`` then ``stop`` (or use it as a context manager)."""

    python: str = sys.executable
    startup_timeout_s: float = 20.0
    port: int | None = None
    _process: subprocess.Popen[str] | None = field(default=None, repr=False)

    @property
    def api_base(self) -> str:
        if self.port is None:
            raise FakeStripeError("the fake Stripe server is not running")
        return f"http://{LOCAL_HOST}:{self.port}"

    def start(self) -> FakeStripe:
        if self._process is not None:
            return self
        process = subprocess.Popen(
            [self.python, "-m", "shared.local.fake_stripe"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._process = process
        try:
            self.port = _read_port(process, process.stdout, self.startup_timeout_s)
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        self.port = None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Any:
        """A raw call to the fake (tests set up customers and cards with it)."""
        import json
        from urllib.parse import urlencode

        data = urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(
            self.api_base + path, data=data, method=method,
            headers={"Authorization": f"Bearer {FAKE_API_KEY}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def customer_with_card(self, number: str = CARD_OK, email: str | None = None) -> str:
        """A customer whose default card (invoice_settings) is ``number``; its id."""
        customer = self.request("POST", "/v1/customers", {**({"email": email} if email else {})})
        method = self.request("POST", "/v1/payment_methods", {
            "type": "card", "card[number]": number, "card[exp_month]": "12",
            "card[exp_year]": "2034", "card[cvc]": "123",
        })
        self.request("POST", f"/v1/payment_methods/{method['id']}/attach",
                     {"customer": customer["id"]})
        self.request("POST", f"/v1/customers/{customer['id']}",
                     {"invoice_settings[default_payment_method]": method["id"]})
        return str(customer["id"])

    def payment_intents(self, customer: str | None = None) -> list[dict[str, Any]]:
        """Every PaymentIntent the fake holds (of one customer when given), newest first."""
        query = "?limit=100" + (f"&customer={customer}" if customer else "")
        found: list[dict[str, Any]] = self.request("GET", f"/v1/payment_intents{query}")["data"]
        return found

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            try:
                self.request("GET", "/v1/customers?limit=1")
                return
            except (urllib.error.URLError, ConnectionError) as error:
                if time.monotonic() > deadline:
                    raise FakeStripeError(f"localstripe did not answer: {error}") from error
                time.sleep(0.05)


def _read_port(process: subprocess.Popen[str], stdout: IO[str] | None, timeout_s: float) -> int:
    """The port the child printed on its first line (it binds port 0 itself)."""
    if stdout is None:  # pragma: no cover - always piped above
        raise FakeStripeError("no stdout from the fake Stripe process")
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(stdout, selectors.EVENT_READ)
    try:
        if not selector.select(timeout_s):
            raise FakeStripeError(f"localstripe did not start within {timeout_s:.0f} s")
    finally:
        selector.close()
    line = stdout.readline().strip()
    if not line.isdigit():
        code = process.poll()
        raise FakeStripeError(
            "localstripe did not start (is it installed? pip install -e '.[dev]')"
            + (f"; exit status {code}" if code is not None else "")
        )
    return int(line)


# ------------------------------------------------------------------------ the child process


def serve(host: str = LOCAL_HOST, port: int = 0) -> None:  # pragma: no cover - subprocess
    """Run localstripe's app on ``host``; print the bound port, then serve until killed."""
    import socket

    from aiohttp import web
    from localstripe import resources, server

    resources.Store.dump_to_disk = lambda self: None  # memory only: runs never share state

    def amount_received(self: Any) -> int:
        return int(self.amount) if self.status == "succeeded" else 0

    resources.PaymentIntent.amount_received = property(amount_received)

    listed = resources.PaymentIntent._api_list_all.__func__

    def list_payment_intents(
        cls: Any, url: str, customer: str | None = None, **kwargs: Any
    ) -> Any:
        found = listed(cls, url, **kwargs)
        found._list.sort(key=lambda intent: intent.created, reverse=True)  # Stripe: newest first
        if customer is not None:
            found._list = [intent for intent in found._list if intent.customer == customer]
        return found

    resources.PaymentIntent._api_list_all = classmethod(list_payment_intents)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, port))
    print(sock.getsockname()[1], flush=True)
    web.run_app(server.app, sock=sock, print=None, access_log=None, handle_signals=True)


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - subprocess
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 = a free port (printed)")
    serve(port=parser.parse_args(argv).port)


if __name__ == "__main__":  # pragma: no cover
    main()
