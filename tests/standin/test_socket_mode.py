"""The stand-in's Socket Mode link, driven by slack_sdk's own built-in Socket Mode client."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from onboard.standin import SlackStandIn, Workspace
from onboard.standin.socket_mode import SocketModeDriver


@pytest.fixture
def app() -> Iterator[tuple[SlackStandIn, SocketModeClient]]:
    with SlackStandIn() as standin:
        standin.socket_mode()
        web = standin.client()
        client = SocketModeClient(app_token=standin.workspace.app_token, web_client=web)

        def ack(client: SocketModeClient, request: SocketModeRequest) -> None:
            answer = {"text": f"got {request.payload['text']}"} if request.payload else None
            client.send_socket_mode_response(SocketModeResponse(request.envelope_id, answer))

        client.socket_mode_request_listeners.append(ack)  # type: ignore[arg-type]
        client.connect()
        try:
            yield standin, client
        finally:
            client.close()


def test_an_envelope_is_answered_with_its_ack_payload(
    app: tuple[SlackStandIn, SocketModeClient],
) -> None:
    standin, _ = app
    link = standin.socket_mode()
    assert link.wait_connected(10)
    assert link.send("slash_commands", {"command": "/onboard", "text": "help"}) == {
        "text": "got help"
    }


def test_pings_are_answered_so_the_client_keeps_its_connection(
    app: tuple[SlackStandIn, SocketModeClient],
) -> None:
    standin, client = app
    assert standin.socket_mode().wait_connected(10)
    session = client.current_session
    assert session is not None
    session.ping(f"{session.session_id}:{time.time()}")
    deadline = time.monotonic() + 5
    while session.last_ping_pong_time is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert session.last_ping_pong_time is not None


def test_a_refresh_has_the_app_reconnect_and_what_comes_next_goes_down_the_new_connection(
    app: tuple[SlackStandIn, SocketModeClient],
) -> None:
    standin, client = app
    link = standin.socket_mode()
    assert link.wait_connected(10)
    received: list[dict[str, Any]] = []
    client.on_message_listeners.append(lambda message: received.append(json.loads(message)))
    first = client.current_session
    assert link.refresh(10)
    assert link.hellos == 2
    disconnects = [m for m in received if m["type"] == "disconnect"]
    assert [m["reason"] for m in disconnects] == ["refresh_requested"]
    # The app closes the old connection itself (slack_sdk's client within its 3 s read timeout).
    deadline = time.monotonic() + 10
    while link.connections > 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert link.connections == 1
    assert link.send("slash_commands", {"command": "/onboard", "text": "help"}) == {
        "text": "got help"
    }
    assert client.current_session is not first


def test_with_no_app_connected_nothing_acks_and_a_plain_http_request_is_refused() -> None:
    with SlackStandIn() as standin:
        link = standin.socket_mode()
        assert link.send("slash_commands", {"text": "help"}) is None  # nobody connected
        assert not link.refresh(1)  # nobody to reconnect
        host, port = "127.0.0.1", int(link.url.split(":")[2].split("/")[0])
        with socket.create_connection((host, port), timeout=5) as raw:
            raw.sendall(b"GET /link/ HTTP/1.1\r\nHost: x\r\n\r\n")
            assert raw.recv(100).startswith(b"HTTP/1.1 400")


def modal(callback_id: str) -> dict[str, Any]:
    text = {"type": "plain_text", "text": callback_id}
    blocks = [{"type": "section", "text": text}]
    return {"type": "modal", "callback_id": callback_id, "title": text, "blocks": blocks}


def shown_now(workspace: Workspace, view_id: str) -> str | None:
    view = workspace.view(view_id)
    return view.callback_id if view is not None else None


@pytest.mark.parametrize(
    ("update_first", "shown"), [(True, "saving"), (False, "saved")], ids=["update", "ack"]
)
def test_an_ack_that_replaces_a_modal_counts_from_when_it_arrives_like_a_views_update(
    update_first: bool, shown: str
) -> None:
    with SlackStandIn() as standin:
        link, workspace, web = standin.socket_mode(), standin.workspace, standin.client()
        alice = workspace.add_user("alice.am")
        opened = web.views_open(trigger_id=workspace.issue_trigger(alice.id), view=modal("form"))
        view_id = opened["view"]["id"]
        client = SocketModeClient(app_token=workspace.app_token, web_client=web)

        def answer(client: SocketModeClient, request: SocketModeRequest) -> None:
            # The app acks with "Saving…" and updates the modal to "Saved": Slack shows the
            # one that reached it last, whichever the app meant to come last.
            saving = {"response_action": "update", "view": modal("saving")}
            if update_first:
                web.views_update(view_id=view_id, view=modal("saved"))
            client.send_socket_mode_response(SocketModeResponse(request.envelope_id, saving))
            if not update_first:
                # The ack goes over the WebSocket and the update over HTTP: which reaches the
                # stand-in first is a race of its two threads, as at Slack. Sent once the ack
                # has landed, the update is the later of the two.
                deadline = time.monotonic() + 10
                while shown_now(workspace, view_id) != "saving" and time.monotonic() < deadline:
                    time.sleep(0.01)
                web.views_update(view_id=view_id, view=modal("saved"))

        client.socket_mode_request_listeners.append(answer)  # type: ignore[arg-type]
        client.connect()
        try:
            assert link.wait_connected(10)
            SocketModeDriver(link, workspace).submit_view(alice.id, view_id, {})
            view = workspace.view(view_id)
            assert view is not None
            deadline = time.monotonic() + 10  # the update may still be on its way after the ack
            while view.callback_id != shown and time.monotonic() < deadline:
                time.sleep(0.01)
            assert view.callback_id == shown
        finally:
            client.close()
