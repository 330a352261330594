"""`onboard demo`: the journey so far, with no Slack workspace, on the embedded defaults.

SQLite in a temporary folder, the Slack stand-in over real HTTP, a scripted account manager.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from onboard.bot.app import Onboard, build
from onboard.bot.settings import embedded_settings
from onboard.bot.web import HttpServer
from onboard.standin.driver import SlackDriver
from onboard.standin.server import SlackStandIn
from onboard.standin.transcript import blocks_as_text, channel_transcript
from onboard.standin.workspace import Workspace
from onboard.storage.audit import verify_database

SECRET = "demo-signing-secret"
# Not `onboard.db`, the default DATABASE_URL's file: `--workdir .` beside a real bot's
# database must not empty it.
DATABASE = "onboard-demo.db"


class DemoFailed(Exception):
    pass


def _deliver(bot: Onboard) -> None:
    """The work after the acks, then every outbox row due now."""
    bot.inbox.wait_idle(30)
    bot.delivery.drain()


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
        # The embedded defaults only: the operator's environment, .env or ONBOARD_CONFIG
        # (their admins, their playbooks) would make the demo theirs, or break it.
        settings = embedded_settings(
            slack_bot_token=workspace.bot_token,
            slack_signing_secret=SECRET,
            slack_api_url=slack.api_url,
            database_url=f"sqlite:///{_fresh_database(folder)}",
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


def _fresh_database(folder: Path) -> Path:
    """The demo's own file in `folder`, emptied: a run after another in the same --workdir
    would find Acme Rockets already there, while the stand-in Slack starts empty."""
    path = folder / DATABASE
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    return path


def _wait(found: Callable[[], object], what: str) -> object:
    for _ in range(1000):
        value = found()
        if value:
            return value
        time.sleep(0.01)
    raise DemoFailed(what)


def _wait_for_view(workspace: Workspace, user_id: str) -> str:
    views = _wait(lambda: workspace.open_views_for(user_id), "a modal did not open")
    return views[-1].id  # type: ignore[index]


INTAKE_ANSWERS = [
    {
        "industry": "Manufacturing",
        "headcount": "240",
        "offices": "Leeds (HQ), Manchester",
        "hours": "Mon–Fri 07:00–19:00",
        "timezone": "Europe/London",
    },
    {
        "sponsor-name": "Carla Rivera",
        "sponsor-email": "carla@acme.example",
        "technical-name": "Dev Patel",
        "technical-email": "dev@acme.example",
        "technical-phone": "+44 113 496 0000",
    },
    {"provider-kind": "Internal IT team"},
    {"regulations": ["ISO 27001", "Essential Eight"]},
    {"apps": "SAP Business One, Salesforce, a custom MES", "cloud": ["Microsoft 365", "Azure"]},
    {"users": "240", "devices": "310", "remote": "60", "sites": "2"},
    {"mfa": "yes", "pain-points": "Slow tickets, no patching cadence"},
]


def _fill_intake(
    bot, slack: SlackDriver, workspace: Workspace, carla: str, alice: str, channel: str, say
) -> None:  # type: ignore[no-untyped-def]
    """Carla fills the intake pages in the shared channel; Alice marks the data verified."""
    _deliver(bot)
    slack.click_button(carla, channel, "intake_start")
    view_id = _wait_for_view(workspace, carla)
    first = slack.submit_view(carla, view_id, {**INTAKE_ANSWERS[0], "headcount": "lots"}).json()
    _check(first.get("response_action") == "errors", "a bad number was accepted")
    say(f"     ✎ @carla starts the intake; under 'headcount': {first['errors']['headcount']}")
    for page in INTAKE_ANSWERS:
        answer = slack.submit_view(carla, view_id, page).json()
        _check(answer.get("response_action") == "update", f"intake page refused: {answer}")
    done = slack.submit_view(carla, view_id, {}).json()  # the review page: submit it all
    _check(done.get("response_action") == "update", f"intake not submitted: {done}")
    _deliver(bot)
    say(f"     ✎ @carla answers {len(INTAKE_ANSWERS)} pages and submits")
    dm = next(c.id for c in workspace.channels.values() if c.is_im and alice in c.members)
    slack.click_button(alice, dm, "intake_verify")
    _wait(lambda: workspace.ephemerals, "verifying the intake said nothing")
    _deliver(bot)
    say("     ✓ Required information verified (by @alice, from the summary in her DM)")


def _walk_playbook(
    bot, slack: SlackDriver, workspace: Workspace, alice: str, channel: str, say
) -> None:  # type: ignore[no-untyped-def]
    """Stage by stage: conditions confirmed by the team, sign-offs clicked by the client."""
    carla = next(u.id for u in workspace.users.values() if u.name == "carla")
    workspace.channels[channel].members.append(carla)  # she accepted the Slack Connect invite

    def command(text: str) -> str:
        answer = slack.command(alice, text, channel_id=channel)
        _check(answer.status == 200, f"/onboard {text} answered HTTP {answer.status}")
        _deliver(bot)
        body = answer.json()
        return str(body.get("text") or "")

    def deliverable(gate: str, title: str, replaces: str | None = None) -> None:
        command("deliverable")
        view_id = _wait_for_view(workspace, alice)
        form = {
            "title": title,
            "gate": gate,
            "approvers": [carla],
            "link": "https://docs.example.com/" + gate,
        }
        if replaces:
            form["replaces"] = replaces
        answer = slack.submit_view(alice, view_id, form).json()
        _check(answer == {"response_action": "clear"}, f"deliverable form answered {answer}")
        _deliver(bot)

    def gate_passed(gate: str) -> bool:
        from sqlalchemy import select

        from onboard.storage.models import GateState

        with bot.db.transaction() as session:
            state = session.scalars(select(GateState).where(GateState.gate_key == gate)).first()
            return state is not None and state.status == "passed"

    say("\n7. the team walks Acme through the playbook; Carla signs off in the shared channel")
    playbook = bot.onboarding.playbooks["managed-services"]
    intake = playbook.intake
    for number, stage in enumerate(playbook.stages, start=1):
        say(f"   stage {number}: {stage.name}")
        if intake is not None and intake.stage == stage.key:
            _fill_intake(bot, slack, workspace, carla, alice, channel, say)
        for gate in stage.gates:
            if intake is not None and gate.key == intake.gate:
                continue  # passed by verifying the intake
            hypercare = stage.automation.hypercare if stage.automation else None
            if hypercare is not None and gate.key == hypercare.satisfaction_gate:
                command("survey")
                slack.click_button(carla, channel, "survey_score_9")
                view_id = _wait_for_view(workspace, carla)
                slack.submit_view(carla, view_id, {"comment": "The daily stand-ups helped a lot."})
                _wait(lambda g=gate.key: gate_passed(g), "the survey did not pass its gate")
                _deliver(bot)
                say(f"     ✓ {gate.name} (@carla scored 9/10 in the survey)")
                continue
            if gate.kind == "condition":
                command(f"gate {gate.key} pass")
                say(f"     ✓ {gate.name} (confirmed by @alice)")
                continue
            deliverable(gate.key, gate.name)
            if gate.key == "uat-signoff":
                slack.click_button(carla, channel, "request_changes")
                view_id = _wait_for_view(workspace, carla)
                reason = "Backup restore test failed at the Leeds office"
                slack.submit_view(carla, view_id, {"reason": reason})
                _deliver(bot)
                say(f"     ↺ {gate.name}: @carla requested changes: “{reason}”")
                deliverable(gate.key, gate.name + " (retested)", replaces="1")
            slack.click_button(carla, channel, "approve")
            _wait(lambda g=gate.key: gate_passed(g), f"{gate.name} did not pass")
            _deliver(bot)
            say(f"     ✓ {gate.name} (approved by @carla)")
        answer = command("advance")
        _check("moved on" in answer or "completed" in answer, f"advance said: {answer}")
    say("")
    card = next(
        m for m in workspace.messages_in(channel) if m.ts in workspace.channels[channel].pins
    )
    for line in blocks_as_text(card.blocks, workspace):
        say("   │ " + line)


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

    say("\n4. @alice fixes the email and submits; the modal says it is saving, then saved")
    form["contact_email"] = "carla@acme.example"
    answer = slack.submit_view(alice, view_id, form).json()
    saving = answer.get("response_action") == "update" and answer["view"]["callback_id"]
    _check(saving == "new_client_saving", f"submit answered {answer}")
    bot.inbox.wait_idle(30)  # the client is saved just after the ack
    shown = workspace.view(view_id)
    _check(shown is not None and shown.callback_id == "new_client_saved", "the form was not saved")

    say("\n5. the outbox delivers: channel, topic, invitations, Slack Connect, welcome, DM")
    _deliver(bot)
    channel = workspace.channel_by_name("client-acme-rockets")
    _check(channel is not None, "no #client-acme-rockets channel")
    assert channel is not None
    for line in channel_transcript(workspace, channel.id).splitlines():
        say("   " + line)
    texts = [m.text for m in workspace.messages_in(channel.id)]
    _check(any(t.startswith("Welcome") for t in texts), "the welcome message is missing")
    _check(bool(workspace.channels[channel.id].pins), "the journey card is not pinned")
    dm = [c for c in workspace.calls_to("chat.postMessage") if c.args.get("channel") == alice]
    _check(len(dm) == 1, "@alice got no confirmation")
    say("\n   DM to @alice:")
    for line in blocks_as_text(dm[0].args.get("blocks") or [], workspace):
        say("   │ " + line)

    _walk_playbook(bot, slack, workspace, alice, channel.id, say)

    say("\n8. the audit chain holds every step")
    with bot.db.transaction() as session:
        count, broken = verify_database(session)
    _check(broken is None, f"audit chain broken: {broken}")
    say(f"   {count} events, chain intact")
