"""The HTTP face of the bot: Slack's one request URL, /healthz and /metrics, on waitress.

waitress is a production WSGI server (threaded, pure Python), embeddable in tests and the demo.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.wsgi.http_response import WsgiHttpResponse
from slack_sdk.signature import SignatureVerifier
from waitress.server import create_server

from onboard.bot.answers import Sent, answering
from onboard.bot.app import Onboard
from onboard.bot.logs import request_id
from onboard.bot.metrics import CONTENT_TYPE
from onboard.bot.slack_requests import NotFromSlack, bolt_request, parse

# Slack's own payloads stay far below this; anything larger is refused before parsing.
MAX_BODY_BYTES = 1024 * 1024

StartResponse = Callable[..., Any]


def wsgi_app(bot: Onboard) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    secret = bot.settings.slack_signing_secret
    # Checked here, before anything is parsed; Bolt does not check again (app.py).
    verifier = SignatureVerifier(secret.get_secret_value()) if secret else None

    metrics = bot.metrics

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        # Not uuid4: its os.urandom is a system call, where the thread gives up the interpreter
        # and may wait to get it back; a log-correlation ID needs no cryptographic randomness.
        rid = f"{random.getrandbits(64):016x}"
        token = request_id.set(rid)
        path = environ.get("PATH_INFO", "")

        def respond(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            metrics.requests.labels(path if path in _KNOWN else "other", status[:3]).inc()
            if environ.get(FROM_SLACK):  # anyone else's requests must not move the histogram
                metrics.ack_seconds.observe(time.perf_counter() - started)
            return start_response(status, [*headers, ("X-Request-Id", rid)], *rest)

        try:
            if path != "/slack/events":
                return route(environ, respond)
            with answering() as sent:
                return Sent(route(environ, respond), sent)
        finally:
            request_id.reset(token)

    def route(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/metrics" and method == "GET":
            body = metrics.exposition()
            start_response(
                "200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))]
            )
            return [body]
        if path == "/healthz" and method == "GET":
            healthy = bot.db.ping()
            body = json.dumps({"status": "ok" if healthy else "database unavailable"}).encode()
            start_response(
                "200 OK" if healthy else "503 Service Unavailable",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        if path == "/slack/events" and method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > MAX_BODY_BYTES:
                return _plain(start_response, "413 Payload Too Large", "too large")
            body = environ["wsgi.input"].read(length)
            headers = _headers(environ)
            if verifier is None or not _signed(verifier, body, headers):
                return _plain(start_response, "401 Unauthorized", "invalid request signature")
            environ[FROM_SLACK] = True
            try:
                request = bolt_request(body, parse(headers["content-type"], body), headers)
            except NotFromSlack as refused:
                return _plain(start_response, refused.status, refused.text)
            answer = bot.bolt.dispatch(request)
            response = WsgiHttpResponse(answer.status, answer.headers, answer.body)
            start_response(response.status, response.get_headers())
            return list(response.get_body())
        return _plain(start_response, "404 Not Found", "not found")

    return application


def _signed(verifier: SignatureVerifier, body: bytes, headers: dict[str, str]) -> bool:
    try:
        return verifier.is_valid_request(body, headers)
    except ValueError:  # a timestamp that is not a number
        return False


_KNOWN = {"/slack/events", "/healthz", "/metrics"}
FROM_SLACK = "onboard.from_slack"  # in the WSGI environ once the signature has passed


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's headers by lower-case name (as Bolt's WSGI adapter passes them): the
    signature's two, and any a listener reads."""
    headers = {
        key[5:].lower().replace("_", "-"): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    headers["content-type"] = environ.get("CONTENT_TYPE", "")
    headers["content-length"] = environ.get("CONTENT_LENGTH", "")
    return headers


def _plain(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class HttpServer:
    """waitress serving the bot on host:port (port 0 picks a free one), in a thread or not."""

    def __init__(self, bot: Onboard, host: str = "127.0.0.1", port: int = 3000) -> None:
        self.server = create_server(
            wsgi_app(bot),
            host=host,
            port=port,
            threads=bot.settings.http_threads,
            max_request_body_size=MAX_BODY_BYTES,
            ident="onboard",
            clear_untrusted_proxy_headers=True,
        )
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server.effective_host, self.server.effective_port  # type: ignore[attr-defined]
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        try:
            self.server.run()
        except OSError:
            # Closing the listening socket under the poll loop is how it is told to stop.
            if not self._stopping.is_set():
                raise

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.server.close()
        if self._thread is not None:
            self._thread.join(5)
