"""Socket Mode in the stand-in: Slack's side of the WebSocket an app opens instead of serving
HTTP, and a driver that sends users' commands, clicks and forms down it.

`apps.connections.open` (called with the app-level token) hands out this link's URL. Each
request then goes as an envelope; the app answers with the envelope's ID, and the payload of
that answer is what an HTTP app would have put in its response body (the ack). Slack acts on
an ack when it arrives, so an ack's `response_action: update` is applied to the modal then,
in the order it came among the app's Web API calls: a `views.update` that came first is undone.

Just enough of RFC 6455 for slack_sdk's built-in client, on loopback without TLS (the client
uses a plain socket for any port but 443): the opening handshake, text frames, ping and pong,
close. Like Slack, the link sends `hello` first; a request goes to the newest connection; and
`refresh` asks the app to reconnect, as Slack does every few hours.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import socket
import struct
import threading
import uuid
from collections.abc import Callable
from contextlib import suppress
from typing import Any, Self
from urllib.parse import parse_qsl

from onboard.standin.driver import Answer, SlackDriver
from onboard.standin.workspace import Workspace

log = logging.getLogger(__name__)

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, section 1.3
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA
ACK_SECONDS = 3.0  # Slack shows the user an error when the app has not acked by then

OnAck = Callable[[dict[str, Any]], None]  # what Slack does with an ack's payload on arrival


class SocketModeLink:
    """A WebSocket endpoint on a free loopback port that apps connect to."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._lock = threading.Lock()
        self._connections: list[socket.socket] = []
        self._acks: dict[str, tuple[threading.Event, list[dict[str, Any]], OnAck | None]] = {}
        self._connected = threading.Condition(self._lock)
        self.hellos = 0  # connections greeted so far (a reconnect adds one)
        self._accepting = threading.Thread(target=self._accept, name="socket-mode", daemon=True)
        self._accepting.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link/?app_id={self.app_id}"

    def wait_connected(self, timeout: float = 10) -> bool:
        with self._connected:
            return self._connected.wait_for(lambda: bool(self._connections), timeout)

    @property
    def connections(self) -> int:
        """Connections open now (greeted and not yet closed by either side)."""
        with self._lock:
            return len(self._connections)

    def refresh(self, timeout: float = 10) -> bool:
        """Slack's periodic `disconnect` with reason `refresh_requested`, down the newest
        connection: True once the app has opened a new one and been greeted on it (what `send`
        delivers then goes down the new one), False if it had not within `timeout`. The old
        connection stays open: closing it is up to the app."""
        message = {
            "type": "disconnect",
            "reason": "refresh_requested",
            "debug_info": {"host": "standin-link"},
        }
        with self._connected:
            if not self._connections:
                return False
            connection, greeted = self._connections[-1], self.hellos
        with suppress(OSError):  # the app went away: it will not reconnect
            _write(connection, TEXT, json.dumps(message).encode())
        with self._connected:
            return self._connected.wait_for(lambda: self.hellos > greeted, timeout)

    def send(
        self, kind: str, payload: dict[str, Any], on_ack: OnAck | None = None
    ) -> dict[str, Any] | None:
        """Deliver one envelope; the payload of the app's ack, or None when none came in 3 s.
        `on_ack` runs with that payload the moment the ack arrives, before `send` returns."""
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope |= {"retry_attempt": 0, "retry_reason": ""}
        answered = threading.Event()
        ack: list[dict[str, Any]] = []
        with self._lock:
            if not self._connections:
                return None
            connection = self._connections[-1]
            self._acks[envelope_id] = (answered, ack, on_ack)
        try:
            with suppress(OSError):  # the app went away: no ack, as with Slack
                _write(connection, TEXT, json.dumps(envelope).encode())
                answered.wait(ACK_SECONDS)
        finally:
            with self._lock:
                self._acks.pop(envelope_id, None)
        return ack[0] if ack else None

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with suppress(OSError):
                _write(connection, CLOSE, struct.pack("!H", 1001))
            connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the server's side -------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(
                target=self._serve, args=(connection,), name="socket-mode-link", daemon=True
            ).start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            reader = connection.makefile("rb")
            if not _handshake(connection, reader):
                connection.close()
                return
            hello = {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "standin-link"},
                "connection_info": {"app_id": self.app_id},
            }
            _write(connection, TEXT, json.dumps(hello).encode())
            with self._connected:
                self._connections.append(connection)
                self.hellos += 1
                self._connected.notify_all()
            self._read(connection, reader)
        except (OSError, ValueError) as exc:
            log.debug("socket mode link closed: %s", exc)
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)
            connection.close()

    def _read(self, connection: socket.socket, reader: Any) -> None:
        while True:
            opcode, data = _read_frame(reader)
            if opcode == CLOSE:
                _write(connection, CLOSE, data[:2])
                return
            if opcode == PING:
                _write(connection, PONG, data)
            elif opcode == TEXT:
                message = json.loads(data)
                with self._lock:
                    waiting = self._acks.get(message.get("envelope_id", ""))
                if waiting is not None:
                    answered, ack, on_ack = waiting
                    ack.append(message.get("payload") or {})
                    if on_ack is not None:
                        on_ack(ack[0])
                    answered.set()


def _handshake(connection: socket.socket, reader: Any) -> bool:
    request = reader.readline(8192)
    headers: dict[str, str] = {}
    while (line := reader.readline(8192)) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    key = headers.get("sec-websocket-key")
    upgrade = headers.get("upgrade", "").lower() == "websocket"
    if not request.startswith(b"GET ") or not upgrade or not key:
        connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        return False
    accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
    connection.sendall(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
    )
    return True


def _read_frame(reader: Any) -> tuple[int, bytes]:
    """One whole message: its opcode and (unmasked) data; continuation frames joined."""
    opcode, parts = None, []
    while True:
        head = _exactly(reader, 2)
        final, frame_opcode = head[0] & 0x80, head[0] & 0x0F
        length = head[1] & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", _exactly(reader, 2))
        elif length == 127:
            (length,) = struct.unpack("!Q", _exactly(reader, 8))
        mask = _exactly(reader, 4) if head[1] & 0x80 else b"\0\0\0\0"
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(_exactly(reader, length)))
        if frame_opcode >= CLOSE:  # control frames may come between a message's fragments
            return frame_opcode, data
        opcode = frame_opcode if opcode is None else opcode
        parts.append(data)
        if final:
            return opcode, b"".join(parts)


def _exactly(reader: Any, n: int) -> bytes:
    data = reader.read(n)
    if len(data) < n:
        raise ConnectionResetError("the app closed the socket")
    return bytes(data)


def _write(connection: socket.socket, opcode: int, data: bytes) -> None:
    """One unfragmented frame; a server never masks its frames."""
    length = len(data)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, length)
    connection.sendall(head + data)


class SocketModeDriver(SlackDriver):
    """A SlackDriver whose requests go down a Socket Mode link instead of signed HTTP posts.

    Answers read like the HTTP app's: 200 with the ack's payload as JSON, or 404 with no body
    when no ack came within Slack's 3 s (as Bolt answers an unacked HTTP request)."""

    def __init__(self, link: SocketModeLink, workspace: Workspace) -> None:
        super().__init__("http://127.0.0.1:9", "", workspace)
        self.link = link

    def post(self, body: bytes, content_type: str, **_: Any) -> Answer:
        if content_type.startswith("application/json"):
            kind, payload = "events_api", json.loads(body)
        else:
            fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
            if "payload" in fields:
                kind, payload = "interactive", json.loads(fields["payload"])
            else:
                kind, payload = "slash_commands", fields
        refused: list[dict[str, Any]] = []
        ack = self.link.send(kind, payload, lambda ack: self._arrived(payload, ack, refused))
        if refused:
            raise AssertionError(f"Slack would refuse the updated view: {refused[0]}")
        if ack is None:
            return Answer(404, b"")
        body = json.dumps(ack).encode() if ack else b""
        return Answer(200, body, {"Content-Type": "application/json"})

    def _arrived(
        self, payload: dict[str, Any], ack: dict[str, Any], refused: list[dict[str, Any]]
    ) -> None:
        """A form's ack that replaces its modal, applied when it reaches Slack (on the link's
        thread): `submit_view` then sees the modal changed and leaves it as it stands."""
        if payload.get("type") != "view_submission" or ack.get("response_action") != "update":
            return
        result = self.workspace.dispatch(
            "views.update",
            {"view_id": payload["view"]["id"], "view": json.dumps(ack["view"])},
            self.workspace.bot_token,
        )
        if not result.get("ok"):
            refused.append(result)
