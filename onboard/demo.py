"""`onboard demo`: the journey so far, with no Slack workspace, on the embedded defaults.

SQLite in a temporary folder, the Slack stand-in over real HTTP, a scripted account manager.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from onboard.bot.app import build
from onboard.bot.settings import Settings
from onboard.bot.web import HttpServer
from onboard.standin.driver import SlackDriver
from onboard.standin.server import SlackStandIn
from onboard.standin.transcript import blocks_as_text, channel_transcript
from onboard.standin.workspace import Workspace
from onboard.storage.audit import verify_database

SECRET = "demo-signing-secret"


class DemoFailed(Exception):
    pass


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise DemoFailed(what)


def run_demo(workdir: Path | None = None, say: Callable[[str], None] = print) -> int:
    with tempfile.TemporaryDirectory(prefix="onboard-demo-") as tmp:
        folder = workdir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            _journey(folder, say)
        except DemoFailed as exc:
            say(f"\n✗ demo failed: {exc}")
            return 1
    say("\n✓ every step worked")
    return 0


def _journey(folder: Path, say: Callable[[str], None]) -> None:
    workspace = Workspace()
    alice = workspace.add_user("alice", real_name="Alice (account manager)", tz="Europe/London")
    eric = workspace.add_user("eric", real_name="Eric (engineer)")
    workspace.add_user("carla", team_id="T0ACME", email="carla@acme.example")
    with SlackStandIn(workspace) as slack:
        settings = Settings(
            slack_bot_token=workspace.bot_token,
            slack_signing_secret=SECRET,
            slack_api_url=slack.api_url,
            database_url=f"sqlite:///{folder / 'onboard.db'}",
            team=(eric.id,),
            slack_connect=True,
            http_threads=4,
        )
        bot = build(settings)
        server = HttpServer(bot, "127.0.0.1", 0).start()
        slack_side = SlackDriver(server.url, SECRET, workspace)
        say(f"onboard demo: bot on {server.url}, Slack stand-in on {slack.api_url}")
        say(f"database: {settings.database_url}\n")
        try:
            _steps(bot, slack_side, workspace, alice.id, say)
        finally:
            server.stop()
            bot.stop()


def _wait_for_view(workspace: Workspace, user_id: str) -> str:
    for _ in range(500):
        views = workspace.open_views_for(user_id)
        if views:
            return views[-1].id
        time.sleep(0.01)
    raise DemoFailed("the New client modal did not open")


def _steps(bot, slack: SlackDriver, workspace: Workspace, alice: str, say) -> None:  # type: ignore[no-untyped-def]
    say("1. @alice types `/onboard help`")
    answer = slack.command(alice, "help")
    _check(answer.status == 200, f"help answered HTTP {answer.status}")
    for line in blocks_as_text(answer.json()["blocks"], workspace):
        say("   │ " + line)

    say("\n2. @alice types `/onboard new Acme Rockets`; the New client modal opens")
    _check(slack.command(alice, "new Acme Rockets").status == 200, "/onboard new failed")
    view_id = _wait_for_view(workspace, alice)
    view = workspace.views[view_id]
    for line in blocks_as_text(view.blocks, workspace):
        say("   │ " + line)

    form = {
        "name": "Acme Rockets",
        "tier": "Gold",
        "contact_name": "Carla Rivera",
        "contact_email": "carla-at-acme",
        "timezone": "Europe/London",
        "country": "GB",
        "go_live": (dt.date.today() + dt.timedelta(days=45)).isoformat(),
        "playbook": "managed-services",
    }
    say("\n3. @alice submits with a mistyped email; the modal stays open and says why")
    answer = slack.submit_view(alice, view_id, form).json()
    _check(answer.get("response_action") == "errors", "a bad email was accepted")
    for field, message in answer["errors"].items():
        say(f"   │ under '{field}': {message}")

    say("\n4. @alice fixes the email and submits; the modal closes")
    form["contact_email"] = "carla@acme.example"
    answer = slack.submit_view(alice, view_id, form).json()
    _check(answer == {"response_action": "clear"}, f"submit answered {answer}")

    say("\n5. the outbox delivers: channel, topic, invitations, Slack Connect, welcome, DM")
    bot.delivery.drain()
    channel = workspace.channel_by_name("client-acme-rockets")
    _check(channel is not None, "no #client-acme-rockets channel")
    assert channel is not None
    for line in channel_transcript(workspace, channel.id).splitlines():
        say("   " + line)
    _check(len(workspace.messages_in(channel.id)) == 1, "the welcome message is missing")
    dm = [c for c in workspace.calls_to("chat.postMessage") if c.args.get("channel") == alice]
    _check(len(dm) == 1, "@alice got no confirmation")
    say("\n   DM to @alice:")
    for line in blocks_as_text(dm[0].args.get("blocks") or [], workspace):
        say("   │ " + line)

    say("\n6. the audit chain holds every step")
    with bot.db.transaction() as session:
        count, broken = verify_database(session)
    _check(broken is None, f"audit chain broken: {broken}")
    say(f"   {count} events, chain intact")
