"""The HTTP face of the bot: Slack's one request URL and the health check, on waitress.

waitress is a production WSGI server (threaded, pure Python), embeddable in tests and the demo.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress.server import create_server

from onboard.bot.app import Onboard

# Slack's own payloads stay far below this; anything larger is refused before parsing.
MAX_BODY_BYTES = 1024 * 1024

StartResponse = Callable[..., Any]


def wsgi_app(bot: Onboard) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    slack = SlackRequestHandler(bot.bolt, path="/slack/events")

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method == "GET":
            healthy = bot.db.ping()
            body = json.dumps({"status": "ok" if healthy else "database unavailable"}).encode()
            start_response(
                "200 OK" if healthy else "503 Service Unavailable",
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return [body]
        if path == "/slack/events" and method == "POST":
            if int(environ.get("CONTENT_LENGTH") or 0) > MAX_BODY_BYTES:
                return _plain(start_response, "413 Payload Too Large", "too large")
            return slack(environ, start_response)
        return _plain(start_response, "404 Not Found", "not found")

    return application


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
