"""``POST /stripe/webhook`` on 127.0.0.1 for the local stack: what API Gateway's HTTP API does
in AWS, in front of the real stripe_webhook handler (SPEC section 10).

Each request becomes an HTTP API event, payload format 2.0 (the shape of
``functions/stripe_webhook/events/webhook_request.json``): header names lower-cased and
repeated headers joined with commas, ``rawPath`` / ``rawQueryString``, ``requestContext.http``,
and the body as text, or base64 with ``isBase64Encoded`` when it is not UTF-8 text. The
handler runs in-process with the function's environment; its ``statusCode`` / ``headers`` /
``body`` become the HTTP answer. Another path or method gets 404 like an unmatched route, and
a handler that raises gets 500 (API Gateway's answer, so Stripe would retry).

Starting an endpoint is a cold start: the handler's per-container caches (settings, secret,
clients) are dropped so they are built from this stack's environment.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from shared.local.dispatcher import Handler, LocalLambdaContext, function_environment

WEBHOOK_PATH = "/stripe/webhook"
ROUTE_KEY = f"POST {WEBHOOK_PATH}"
#: API Gateway's own request limit (the handler applies the much smaller Stripe one)
MAX_REQUEST_BYTES = 10 * 1024 * 1024
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded")


def http_api_event(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes, host: str,
    source_ip: str = "127.0.0.1", now_ms: int | None = None,
) -> dict[str, Any]:
    """One request as an API Gateway HTTP API (payload format 2.0) event."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    split = urlsplit(target)
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    content_type = merged.get("content-type", "").lower()
    text: str | None = None
    if not content_type or content_type.startswith(_TEXT_TYPES):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": ROUTE_KEY,
        "rawPath": split.path,
        "rawQueryString": split.query,
        "headers": merged,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.split(".", 1)[0],
            "http": {
                "method": method,
                "path": split.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": uuid.uuid4().hex[:16],
            "routeKey": ROUTE_KEY,
            "stage": "$default",
            "time": formatdate(now_ms / 1000, usegmt=True),
            "timeEpoch": now_ms,
        },
        "isBase64Encoded": text is None,
    }
    if body:
        event["body"] = text if text is not None else base64.b64encode(body).decode("ascii")
    if split.query:
        event["queryStringParameters"] = dict(parse_qsl(split.query, keep_blank_values=True))
    return event



class _QuietServer(ThreadingHTTPServer):
    """A client hanging up mid-request (localstripe does, after its webhook's answer) is
    routine here, not an error worth a traceback on the demo's output."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

class WebhookEndpoint:
    """A small threaded HTTP server on 127.0.0.1 that serves ``POST /stripe/webhook``."""

    def __init__(
        self, handler: Handler, environment: Mapping[str, str], *, host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._handler = handler
        self._environment = dict(environment)
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # os.environ is process-wide: one invocation at a time, like one Lambda container
        self._invoke_lock = threading.Lock()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the webhook endpoint is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{WEBHOOK_PATH}"

    def start(self) -> WebhookEndpoint:
        from shared.wiring import stripe_webhook_deps, stripe_webhook_settings

        stripe_webhook_deps.cache_clear()  # a cold start for this stack's environment
        stripe_webhook_settings.cache_clear()
        endpoint = self

        class _Request(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                endpoint._serve(self)

            def do_GET(self) -> None:
                endpoint._serve(self)

            def do_PUT(self) -> None:
                endpoint._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the handler logs (without bodies or signatures)

        self._server = _QuietServer((self._host, self._port), _Request)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="stripe-webhook-endpoint", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> WebhookEndpoint:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        with self._invoke_lock, function_environment(self._environment):
            response: dict[str, Any] = self._handler(
                event, LocalLambdaContext(function_name="stripe_webhook")
            )
        return response

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        try:
            length = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            _reply(request, 400, {}, json.dumps({"message": "Bad Request"}))
            request.close_connection = True
            return
        if length > MAX_REQUEST_BYTES:
            _reply(request, 413, {}, json.dumps({"message": "Request Entity Too Large"}))
            request.close_connection = True
            return
        body = request.rfile.read(length) if length > 0 else b""
        path = urlsplit(request.path).path
        if request.command != "POST" or path != WEBHOOK_PATH:
            _reply(request, 404, {}, json.dumps({"message": "Not Found"}))
            return
        event = http_api_event(
            request.command, request.path, list(request.headers.items()), body,
            request.headers.get("Host") or f"{self._host}:{self._port}",
            source_ip=str(request.client_address[0]),
        )
        try:
            response = self.invoke(event)
        except Exception:  # API Gateway answers 500 when the function fails
            _reply(request, 500, {}, json.dumps({"message": "Internal Server Error"}))
            return
        raw = response.get("body") or ""
        payload = base64.b64decode(raw) if response.get("isBase64Encoded") else raw
        _reply(request, int(response.get("statusCode", 200)), response.get("headers") or {},
               payload)


def _reply(
    request: BaseHTTPRequestHandler, status: int, headers: Mapping[str, Any], body: str | bytes
) -> None:
    data = body.encode("utf-8") if isinstance(body, str) else body
    request.send_response(status)
    names = {name.lower() for name in headers}
    for name, value in headers.items():
        if name.lower() != "content-length":
            request.send_header(name, str(value))
    if "content-type" not in names:
        request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)
