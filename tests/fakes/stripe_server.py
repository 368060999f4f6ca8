"""A tiny stateful fake Stripe HTTP API on 127.0.0.1 for the endpoints ``StripeGateway``
calls (customers, SetupIntents, PaymentMethods, PaymentIntents), so the real stripe client
and our adapter run end to end without the real API. Like localstripe it ignores
Idempotency-Key. ``pm_card_visa`` / ``pm_card_mastercard`` / ``pm_card_chargeDeclined`` are
the test PaymentMethods it knows; a PaymentIntent on a declined card answers 402 card_error.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

CARDS = {
    "pm_card_visa": ("visa", "4242", 12, 2034),
    "pm_card_mastercard": ("mastercard", "4444", 6, 2031),
    "pm_card_chargeDeclined": ("visa", "0002", 1, 2033),
}


class FakeStripe:
    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeStripe:
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._serve(self)

            def do_POST(self) -> None:
                fake._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # -------------------------------------------------------------- API

    def _new(self, prefix: str, **fields: Any) -> dict[str, Any]:
        obj = {"id": f"{prefix}_fake{next(self._ids)}", **fields}
        self.objects[obj["id"]] = obj
        return obj

    def _attach(self, token: str, customer: str) -> dict[str, Any]:
        brand, last4, month, year = CARDS[token]
        return self._new("pm", object="payment_method", type="card", customer=customer,
                         card={"brand": brand, "last4": last4, "exp_month": month,
                               "exp_year": year}, token=token)

    def handle(self, method: str, path: str, params: dict[str, str]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        if parts == ["customers"] and method == "POST":
            return 200, self._new("cus", object="customer", metadata={
                "tenant": params.get("metadata[tenant]")
            }, invoice_settings={"default_payment_method": None})
        if len(parts) == 2 and parts[0] == "customers" and parts[1] in self.objects:
            customer = self.objects[parts[1]]
            if method == "POST" and "invoice_settings[default_payment_method]" in params:
                customer["invoice_settings"]["default_payment_method"] = (
                    params["invoice_settings[default_payment_method]"] or None
                )
            return 200, customer
        if parts == ["setup_intents"] and method == "POST":
            customer, token = params["customer"], params.get("payment_method")
            if customer not in self.objects:
                return _error(404, "invalid_request_error", f"No such customer: '{customer}'")
            if token:
                if token not in CARDS:
                    return _error(404, "invalid_request_error", f"No such PaymentMethod: {token}")
                attached = self._attach(token, customer)
                return 200, self._new("seti", object="setup_intent", status="succeeded",
                                      customer=customer, payment_method=attached["id"],
                                      client_secret="seti_secret_fake")
            return 200, self._new("seti", object="setup_intent",
                                  status="requires_payment_method", customer=customer,
                                  payment_method=None, client_secret="seti_secret_fake")
        if parts == ["payment_methods"] and method == "GET":
            data = [obj for obj in self.objects.values() if obj.get("object") == "payment_method"
                    and obj.get("customer") == params.get("customer")]
            return 200, {"object": "list", "data": data, "has_more": False,
                         "url": "/v1/payment_methods"}
        if len(parts) == 3 and parts[0] == "payment_methods" and parts[2] == "detach":
            found = self.objects.get(parts[1])
            if found is None or found.get("customer") is None:
                return _error(400, "invalid_request_error", "not attached to a customer")
            customer = self.objects[found["customer"]]
            if customer["invoice_settings"]["default_payment_method"] == found["id"]:
                customer["invoice_settings"]["default_payment_method"] = None
            found["customer"] = None
            return 200, found
        if parts == ["payment_intents"] and method == "POST":
            card = self.objects.get(params.get("payment_method") or "")
            fields = {"object": "payment_intent", "amount": int(params["amount"]),
                      "currency": params["currency"], "customer": params["customer"],
                      "metadata": {k[9:-1]: v for k, v in params.items()
                                   if k.startswith("metadata[")}}
            if card is None:
                return _error(400, "invalid_request_error", "no payment method")
            if card.get("token") == "pm_card_chargeDeclined":
                intent = self._new("pi", status="requires_payment_method", amount_received=0,
                                   **fields)
                return _error(402, "card_error", "Your card was declined.", code="card_declined",
                              decline_code="generic_decline", payment_intent=intent)
            return 200, self._new("pi", status="succeeded", amount_received=fields["amount"],
                                  last_payment_error=None, **fields)
        if len(parts) == 2 and parts[0] == "payment_intents" and parts[1] in self.objects:
            return 200, self.objects[parts[1]]
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({method} {path})")

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length).decode() if length else ""
        params = dict(parse_qsl(split.query)) | dict(parse_qsl(body))
        with self._lock:
            self.requests.append((request.command, split.path))
            status, answer = self.handle(request.command, split.path, params)
        data = json.dumps(answer).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


def _error(status: int, kind: str, message: str, **fields: Any) -> tuple[int, Any]:
    return status, {"error": {"type": kind, "message": message, **fields}}
