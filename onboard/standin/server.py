"""HTTP front of the Slack stand-in: a local server on a free port that speaks the Web API.

Owns the socket, the serving thread, request parsing and turning workspace replies into HTTP.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from slack_sdk import WebClient

from onboard.standin.answers import Reply
from onboard.standin.socket_mode import SocketModeLink
from onboard.standin.workspace import Workspace

log = logging.getLogger(__name__)

_ERROR_PAGE = "<html><head><title>{0}</title></head><body><h1>{0}</h1></body></html>"


class _BadBody(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    args: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if isinstance(name, str):
            filename = part.get_filename()
            args[name] = payload if filename else payload.decode("utf-8", "replace")
    return args


def parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """Arguments from a request body the way Slack reads them (JSON, form or multipart)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return {}
    if kind == "application/json":
        try:
            parsed = json.loads(body)
        except ValueError:
            raise _BadBody("invalid_json") from None
        if not isinstance(parsed, dict):
            raise _BadBody("invalid_json")
        return parsed
    if kind == "multipart/form-data":
        return _parse_multipart(content_type, body)
    if kind in ("application/x-www-form-urlencoded", ""):
        try:
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise _BadBody("invalid_form_data") from None
    raise _BadBody("invalid_form_data")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "SlackStandIn/1.0"
    protocol_version = "HTTP/1.1"  # keep-alive, as Slack's API; every answer has a length
    # Headers and body go out in two writes: with Nagle's algorithm the body would wait for
    # the client's delayed ACK (40 ms on Linux) on every call of a kept-alive connection.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("standin %s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._route(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._route(self.rfile.read(length) if length > 0 else b"")

    def _route(self, body: bytes) -> None:
        url = urlsplit(self.path)
        prefix, _, rest = url.path.lstrip("/").partition("/")
        workspace = self.server.workspace
        if prefix == "api" and rest:
            self._api(rest, url.query, body)
        elif prefix == "response_url" and rest:
            try:
                payload = parse_body(self.headers.get("Content-Type", ""), body)
            except _BadBody:
                self._send(400, b"invalid_payload", "text/plain")
                return
            if isinstance(payload.get("payload"), str):  # form-encoded {"payload": "<json>"}
                payload = json.loads(payload["payload"])
            workspace.record_response(rest, payload)
            self._send(200, b"ok", "text/plain")
        elif prefix == "upload" and rest and self.command == "POST":
            if workspace.receive_upload(rest, body):
                self._send(200, f"OK - {len(body)}".encode(), "text/plain")
            else:
                self._send(404, b"file_not_found", "text/plain")
        else:
            self._send(404, _ERROR_PAGE.format("404 Not Found").encode(), "text/html")

    def _api(self, method: str, query: str, body: bytes) -> None:
        args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        try:
            args.update(parse_body(self.headers.get("Content-Type", ""), body))
        except _BadBody as bad:
            self._reply(Reply(200, {"ok": False, "error": bad.error}))
            return
        token = args.pop("token", None)
        authorization = self.headers.get("Authorization", "")
        if authorization.lower().startswith("bearer "):
            token = authorization[len("bearer ") :].strip()
        self._reply(self.server.workspace.handle(method, args, token))

    def _reply(self, reply: Reply) -> None:
        if reply.drop:
            self.close_connection = True  # answer nothing; the client sees a dropped connection
            return
        if reply.body is not None:
            data = json.dumps(reply.body).encode()
            content_type = "application/json; charset=utf-8"
        else:
            data = _ERROR_PAGE.format(f"{reply.status} {self.responses[reply.status][0]}").encode()
            content_type = "text/html"
        self._send(reply.status, data, content_type, reply.headers)

    def _send(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up, e.g. on a timeout
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Load tests open many connections at once; the default backlog of 5 resets some.
    request_queue_size = 256
    block_on_close = False  # stop() must not wait for handlers sleeping on an injected delay

    def __init__(self, workspace: Workspace) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.workspace = workspace
        self.connections = 0  # accepted so far: shows whether clients keep theirs open

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections += 1  # only the serving thread accepts, so no lock
        super().process_request(request, client_address)


class SlackStandIn:
    """A Slack Web API stand-in on http://127.0.0.1:<free port>/api/, served from a thread.

    with SlackStandIn() as slack:
        client = WebClient(token=slack.workspace.bot_token, base_url=slack.api_url)
    """

    def __init__(self, workspace: Workspace | None = None) -> None:
        self.workspace = workspace if workspace is not None else Workspace()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._link: SocketModeLink | None = None

    def start(self) -> Self:
        if self._server is None:
            self._server = _Server(self.workspace)
            self.workspace.base_url = self.base_url
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"slack-standin-{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self

    def socket_mode(self) -> SocketModeLink:
        """The Socket Mode link (opened on first use) that `apps.connections.open` hands out."""
        if self._link is None:
            self._link = SocketModeLink(self.workspace.app_id)
            self.workspace.socket_url = self._link.url
        return self._link

    def stop(self) -> None:
        server, thread, link = self._server, self._thread, self._link
        self._server = self._thread = self._link = None
        if link is not None:
            link.close()
            self.workspace.socket_url = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("SlackStandIn is not started")
        return int(self._server.server_address[1])

    @property
    def connections(self) -> int:
        """TCP connections accepted since the start."""
        return self._server.connections if self._server is not None else 0

    @property
    def base_url(self) -> str:
        """The server root, "http://127.0.0.1:PORT/" (with the trailing slash)."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        """Pass as WebClient(base_url=...): it ends with a slash and slack_sdk adds the method."""
        return f"{self.base_url}api/"

    def client(self, **kwargs: Any) -> WebClient:
        """A WebClient pointed at the stand-in with the workspace's bot token."""
        kwargs.setdefault("token", self.workspace.bot_token)
        return WebClient(base_url=self.api_url, **kwargs)
