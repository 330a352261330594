"""The team walks a client through its playbook from Slack: status, tasks, gates, advance, back."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import threading
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from onboard.bot import journey as journey_service
from onboard.bot import tasks as tasks_service
from onboard.bot.errors import OnboardError
from onboard.storage.audit import Cause
from onboard.storage.models import AuditEvent, AuditNote, Client, GateState, OutboxMessage, Task
from tests.conftest import BotFactory, FixedClock, People, Running
from tests.handlers.test_new_client import onboard_client

TINY = """
key: tiny
name: Tiny journey
stages:
  - key: kickoff
    name: Kickoff
    objective: Meet the client.
    owner: Account Manager
    duration_days: {min: 1, max: 2}
    tasks:
      - {title: "Send the agenda", owner: Account Manager, due_day: 0}
      - {title: "Hold the kickoff call", owner: Account Manager, due_day: 1}
    gates:
      - {key: kickoff-held, name: Kickoff held, kind: condition}
  - key: build
    name: Build
    objective: Build the thing.
    owner: Engineer
    duration_days: {min: 2, max: 4}
    tasks:
      - {title: "Build it", owner: Engineer, due_day: 2}
    gates:
      - {key: tests-green, name: Tests pass, kind: condition,
         on_fail: {back_to: kickoff, label: Rescope}}
  - key: handover
    name: Handover
    objective: Hand over.
    owner: Account Manager
    duration_days: {min: 1, max: 1}
    gates:
      - {key: handed-over, name: Handover done, kind: condition}
"""


@pytest.fixture
def tiny(start_bot: BotFactory, tmp_path: Path, people: People) -> Running:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY)
    onboard = start_bot(playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny")
    return onboard


def channel_of(onboard: Running) -> str:
    with onboard.bot.db.transaction() as session:
        channel = session.scalars(select(Client.channel_id)).one()
    assert channel is not None
    return channel


def say(onboard: Running, user: str, text: str) -> str:
    """Type `/onboard <text>` in the client's channel; the private answer, as text."""
    answer = onboard.driver.command(user, text, channel_id=channel_of(onboard))
    assert answer.status == 200, answer.text
    onboard.deliver()
    body = answer.json()
    return (body.get("text") or "") + str(body.get("blocks") or "")


def card(onboard: Running) -> str:
    channel = channel_of(onboard)
    with onboard.bot.db.transaction() as session:
        ts = session.scalars(select(Client.card_ts)).one()
    messages = {m.ts: m for m in onboard.workspace.messages_in(channel)}
    assert ts in messages, "the journey card was never posted"
    assert ts in onboard.workspace.channels[channel].pins
    return messages[ts].text + str(messages[ts].blocks)


def test_a_client_walks_every_stage_with_a_loop_back(tiny: Running, people: People) -> None:
    am = people.am.id
    assert "Kickoff" in say(tiny, am, "status")
    assert "Kickoff held" in say(tiny, am, "advance")  # the gate refuses
    assert "Kickoff" in card(tiny)

    assert "Task 1 done" in say(tiny, am, "task done 1")
    assert "1 of 2 done" in card(tiny)
    say(tiny, am, "gate kickoff-held pass")
    assert "next stage" in say(tiny, am, "advance")
    assert "stage 2 of 3" in card(tiny)

    # The seeds' loops: a failed gate sends the journey back where the playbook says.
    assert "back to Kickoff" in say(tiny, am, "gate tests-green fail the API changed")
    assert "stage 1 of 3" in card(tiny)
    assert "Kickoff held" in say(tiny, am, "advance")  # its gate must hold again
    say(tiny, am, "gate kickoff-held pass")
    say(tiny, am, "advance")
    say(tiny, am, "gate tests-green pass")
    say(tiny, am, "advance")
    say(tiny, am, "gate handed-over pass")
    assert "completed onboarding" in say(tiny, am, "advance")
    assert "complete" in card(tiny)

    with tiny.bot.db.transaction() as session:
        assert session.scalars(select(Client.status)).one() == "completed"
        actions = list(session.scalars(select(AuditEvent.action)))
    assert actions.count("stage.advanced") == 3
    assert actions.count("stage.sent_back") == 1
    assert "journey.completed" in actions
    texts = [m.text for m in tiny.workspace.messages_in(channel_of(tiny))]
    assert any(t.startswith("Back to stage: Kickoff") for t in texts)
    assert any("completed onboarding" in t for t in texts)


def test_only_an_admin_may_force_a_stage_and_must_say_why(tiny: Running, people: People) -> None:
    assert "Only an admin" in say(tiny, people.am.id, "advance --force client is in a hurry")
    assert "Say why" in say(tiny, people.admin.id, "advance --force")
    assert "next stage" in say(tiny, people.admin.id, "advance --force client signed by email")
    with tiny.bot.db.transaction() as session:
        forced = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "stage.advanced")
        ).one()
        note = session.get_one(AuditNote, forced.seq)
    assert forced.details["forced"] is True and forced.details["has_note"] is True
    # What the admin typed may name people: beside the chain, where erasure reaches it.
    assert "client signed by email" not in json.dumps(forced.details)
    assert note.text == "client signed by email" and note.client_id == forced.client_id
    assert forced.actor == people.admin.id


def test_the_team_sends_the_journey_back_with_a_reason(tiny: Running, people: People) -> None:
    say(tiny, people.admin.id, "advance --force skip")
    assert "Say why" in say(tiny, people.am.id, "back kickoff")
    assert "ahead" in say(tiny, people.am.id, "back handover because")
    assert "went back" in say(tiny, people.am.id, "back kickoff the client changed scope")
    assert "stage 1 of 3" in card(tiny)


def test_tasks_are_added_assigned_and_ticked_from_the_card(tiny: Running, people: People) -> None:
    added = say(
        tiny, people.am.id, f"task add Collect logos <@{people.engineer.id}|eric> in 3 days"
    )
    assert "Task 3 added: Collect logos" in added
    assert "Task 3 assigned" in say(tiny, people.am.id, f"task assign 3 <@{people.admin.id}>")
    assert "no task 9" in say(tiny, people.am.id, "task done 9")

    tiny.driver.click_checkbox(people.engineer.id, channel_of(tiny), "task_done", ["1:1", "1:3"])

    def ticked() -> bool:  # the click is handled after Slack has its ack
        with tiny.bot.db.transaction() as session:
            done = session.scalars(select(Task.number).where(Task.done_at.is_not(None))).all()
        return sorted(done) == [1, 3]

    tiny.wait_until(ticked)
    tiny.deliver()
    assert "2 of 3 done" in card(tiny)


def test_a_client_user_cannot_drive_the_journey(tiny: Running, people: People) -> None:
    for text in ("status", "advance", "task done 1", "gate kickoff-held pass", "back kickoff x"):
        assert "for the onboarding team" in say(tiny, people.client.id, text)
    tiny.driver.click_checkbox(people.client.id, channel_of(tiny), "task_done", ["1:1"])
    tiny.deliver()
    assert "0 of 2 done" in card(tiny)


def test_app_home_shows_each_person_what_concerns_them(tiny: Running, people: People) -> None:
    with tiny.bot.db.transaction() as session:
        session.scalars(select(Client)).one().contacts[0].slack_user_id = people.client.id
    for user, expected in [
        (people.am.id, "Your clients"),
        (people.admin.id, "All clients"),
        (people.client.id, "Your onboarding"),
        # The engineer is in ONBOARD_TEAM, invited to every client's channel: each client
        # being onboarded is theirs, though no task of it is assigned to them.
        (people.engineer.id, "Your clients"),
    ]:
        tiny.driver.event({"type": "app_home_opened", "user": user, "tab": "home"})
        home = tiny.wait_until(lambda u=user: tiny.workspace.home_of(u))
        text = str(home.blocks)
        assert expected in text
        assert "Acme Rockets" in text
        if user == people.client.id:
            assert "overdue" not in text and "next:" not in text


def test_task_numbers_and_gate_keys_are_read_as_people_type_them(
    tiny: Running, people: People
) -> None:
    am = people.am.id
    for typed in ("task done ²", "task done 99999999999999999999", "task done #"):
        assert "Give the task's number" in say(tiny, am, typed)
    assert "Recorded" in say(tiny, am, "gate  Kickoff-held   pass")  # spaces, capitals


def test_ampersands_and_angle_brackets_are_kept_as_typed_and_shown_escaped_once(
    tiny: Running, people: People
) -> None:
    # Slack sends "&", "<" and ">" in a command's text as HTML entities.
    reply = say(tiny, people.am.id, "task add Call Smith & Sons <re: contract>")
    with tiny.bot.db.transaction() as session:
        assert "Call Smith & Sons <re: contract>" in session.scalars(select(Task.title)).all()
    assert "Call Smith &amp; Sons &lt;re: contract&gt;" in reply
    assert "&amp;amp;" not in reply and "&amp;lt;" not in reply


def test_a_task_of_another_stage_is_not_ticked_from_this_one(tiny: Running, people: People) -> None:
    am = people.am.id
    say(tiny, am, "gate kickoff-held pass")
    say(tiny, am, "advance")  # Build's task is number 3
    say(tiny, am, "back kickoff rescope")
    assert "no task 3 in its current stage" in say(tiny, am, "task done 3")
    with tiny.bot.db.transaction() as session:
        assert session.scalars(select(Task.done_at).where(Task.number == 3)).one() is None


def test_two_clients_of_one_name_are_told_apart_by_slug_or_channel(
    tiny: Running, people: People
) -> None:
    first = channel_of(tiny)
    onboard_client(tiny, people, playbook="tiny")  # Acme Rockets again: acme-rockets-2
    with tiny.bot.db.transaction() as session:
        second = session.scalars(select(Client.channel_id).where(Client.id == 2)).one()
    tiny.driver.command(people.admin.id, "advance Acme Rockets --force named", channel_id=second)
    tiny.driver.command(people.admin.id, "advance acme-rockets --force by slug", channel_id=None)
    with tiny.bot.db.transaction() as session:
        stages = dict(session.execute(select(Client.slug, Client.stage_key)).all())
    assert stages == {"acme-rockets": "build", "acme-rockets-2": "build"}
    assert first != second
    answer = tiny.driver.command(people.am.id, "status Acme Rockets", channel_id=None).json()
    assert "More than one client has that name" in answer["text"]


def test_two_tasks_added_at_once_get_numbers_of_their_own(
    tiny: Running, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both hold after finding the client (for at most a moment): without a lock on the client
    # both would read the same highest number.
    together = threading.Barrier(2)
    calendar_of = tasks_service.calendar_of

    def meet(client: Client) -> object:
        with contextlib.suppress(threading.BrokenBarrierError):
            together.wait(2)
        return calendar_of(client)

    monkeypatch.setattr(tasks_service, "calendar_of", meet)
    adds = [
        threading.Thread(
            target=tiny.bot.tasks.add,
            args=("", channel_of(tiny), title, None, None, Cause(people.am.id)),
        )
        for title in ("Book the venue", "Order laptops")
    ]
    for add in adds:
        add.start()
    for add in adds:
        add.join(30)
    with tiny.bot.db.transaction() as session:
        numbers = list(session.scalars(select(Task.number)))
    assert sorted(numbers) == list(range(1, len(numbers) + 1))


def test_a_stage_sent_back_to_starts_its_open_tasks_afresh(
    start_bot: BotFactory, tmp_path: Path, people: People
) -> None:
    def day(n: int) -> dt.datetime:  # November 2026, 10:00 in London (UTC in November)
        return dt.datetime(2026, 11, n, 10, 0, tzinfo=dt.UTC)

    def reminded_on(n: int) -> list[str]:
        """The morning sweep of 10:00 on `n` November: the reminders it posted."""
        clock.now = day(n)
        seen = len(onboard.workspace.messages_in(channel_of(onboard)))
        onboard.bot.nudges.tasks(clock.now)
        onboard.deliver()
        texts = [m.text for m in onboard.workspace.messages_in(channel_of(onboard))[seen:]]
        return [t for t in texts if t.startswith(("Due today", "Overdue"))]

    clock = FixedClock(day(2))  # Monday
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY)
    onboard = start_bot(clock=clock, playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny")
    am = people.am.id
    say(onboard, am, "task done 1")
    say(onboard, am, "task done 2")
    say(onboard, am, "gate kickoff-held pass")
    say(onboard, am, "advance")  # Build: task 3 "Build it" due Wednesday 4 Nov
    say(onboard, am, "task add Order laptops in 20 days")  # task 4, the team's: Mon 30 Nov
    assert reminded_on(4) == ["Due today: Build it (Acme Rockets)"]
    assert reminded_on(5) == ["Overdue by 1 business day: Build it (Acme Rockets)"]

    # The tests fail on Thursday: two weeks of rescoping in Kickoff, then Build again.
    say(onboard, am, "gate tests-green fail flaky tests")
    clock.now = day(16)
    say(onboard, am, "gate kickoff-held pass")
    say(onboard, am, "advance")

    status = say(onboard, am, "status")
    assert "Build it · Engineer · due Wed 18 Nov" in status
    assert "Order laptops · Team · due Mon 30 Nov" in status  # the team's own date
    assert "Overdue" not in status and "overdue" not in card(onboard)
    with onboard.bot.db.transaction() as session:
        kickoff = session.scalars(select(Task).where(Task.stage_key == "kickoff")).all()
    assert all(t.done_at is not None for t in kickoff)  # the loop did not reopen them

    # Reminders start over: nothing until the new due date, then "due today", not "overdue".
    assert reminded_on(16) == []
    assert reminded_on(17) == []
    assert reminded_on(18) == ["Due today: Build it (Acme Rockets)"]
    assert reminded_on(19) == ["Overdue by 1 business day: Build it (Acme Rockets)"]
    # The cap counts this pass's reminders only: the first pass's two do not cut it short.
    assert reminded_on(23) == ["Overdue by 3 business days: Build it (Acme Rockets)"]


def gate_status(onboard: Running, key: str) -> str | None:
    with onboard.bot.db.transaction() as session:
        return session.scalars(select(GateState.status).where(GateState.gate_key == key)).first()


def stage_of(onboard: Running) -> str:
    with onboard.bot.db.transaction() as session:
        return session.scalars(select(Client.stage_key)).one()


def test_a_team_member_cannot_overturn_the_clients_sign_off(
    start_bot: BotFactory, tmp_path: Path, people: People
) -> None:
    # The approvals tests build on these helpers: imported here, not at the top (a cycle).
    from tests.handlers.test_approvals import SIGNOFF, post_deliverable

    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(SIGNOFF)
    onboard = start_bot(playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny")
    channel = channel_of(onboard)
    onboard.workspace.channels[channel].members.append(people.client.id)
    say(onboard, people.am.id, "approvers")
    post_deliverable(onboard, people, approvers=[people.client.id], gate="scope-agreed")
    onboard.driver.click_button(people.client.id, channel, "approve")
    onboard.wait_until(lambda: gate_status(onboard, "scope-agreed") == "passed")

    # An engineer fails the wrong gate by mistake: nobody on the team could pass it back.
    refused = say(onboard, people.engineer.id, "gate scope-agreed fail wrong gate, sorry")
    assert "is a sign-off" in refused and "Request changes" in refused
    assert "/onboard back" in refused and "--force" in refused
    assert gate_status(onboard, "scope-agreed") == "passed"
    assert "is a sign-off" in say(onboard, people.am.id, "gate scope-agreed pass")
    with onboard.bot.db.transaction() as session:
        failed = session.scalars(select(AuditEvent).where(AuditEvent.action == "gate.failed"))
        assert failed.all() == []


def test_the_satisfaction_gate_is_decided_by_the_survey_not_typed(
    start_bot: BotFactory, people: People
) -> None:
    # Seed 002: "Client satisfaction survey score of 8/10 or higher".
    onboard = start_bot()
    onboard_client(onboard, people)
    for _ in range(5):
        assert "next stage" in say(onboard, people.admin.id, "advance --force review test")
    assert stage_of(onboard) == "hypercare"
    for verb in ("pass", "fail nobody asked them"):
        answer = say(onboard, people.engineer.id, f"gate satisfaction-score {verb}")
        assert "decided by the satisfaction survey" in answer and "8/10" in answer
        assert "/onboard survey" in answer and "--force" in answer
    assert gate_status(onboard, "satisfaction-score") == "open"
    # The stage's other conditions are still the team's to confirm.
    assert "Recorded" in say(onboard, people.engineer.id, "gate issues-resolved pass")
    # An admin can still move the journey on without it.
    assert "next stage" in say(onboard, people.admin.id, "advance --force client on holiday")


def test_the_card_keeps_up_with_the_calendar_as_tasks_fall_overdue(
    start_bot: BotFactory, tmp_path: Path, people: People
) -> None:
    from onboard.schedules.jobs import JOBS

    clock = FixedClock(dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC))  # Monday
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY)
    onboard = start_bot(clock=clock, playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny")
    assert "on track" in card(onboard)
    # Nobody touches the journey for ten days; the scheduler's sweeps run as they would.
    for day in range(3, 13):
        for hour in (0, 10, 18):
            clock.now = dt.datetime(2026, 11, day, hour, 5, tzinfo=dt.UTC)
            for job in ("task-reminders", "card-refresh"):
                JOBS[job].run(onboard.bot, clock.now)
            onboard.deliver()
    texts = [m.text for m in onboard.workspace.messages_in(channel_of(onboard))]
    assert any(t.startswith("Overdue") for t in texts)  # the bot itself says they are late
    shown = card(onboard)
    assert "2 overdue" in shown and "at risk" in shown, shown
    assert "9 of 2 business days" in shown  # Monday 2 to Thursday 12: days in the stage
    # Once per client per local date: the day's refresh is queued already.
    assert JOBS["card-refresh"].run(onboard.bot, clock.now) == 0
    with onboard.bot.db.transaction() as session:
        daily = session.scalars(
            select(OutboxMessage.key).where(OutboxMessage.key.like("%:card:day:%"))
        ).all()
    assert len(daily) == 10 and "client:1:card:day:2026-11-12" in daily


def test_the_channel_topic_follows_the_stage(tiny: Running, people: People) -> None:
    def topic() -> str:
        return tiny.workspace.channels[channel_of(tiny)].topic

    am = people.am.id
    assert topic().endswith("Stage: Kickoff")
    say(tiny, am, "gate kickoff-held pass")
    assert "next stage" in say(tiny, am, "advance")
    assert "stage 2 of 3" in card(tiny) and topic().endswith("Stage: Build")
    say(tiny, am, "gate tests-green fail the API changed")  # the loop back to Kickoff
    assert topic().endswith("Stage: Kickoff")
    say(tiny, am, "gate kickoff-held pass")
    say(tiny, am, "advance")
    say(tiny, am, "back 1 the client changed scope")
    assert topic().endswith("Stage: Kickoff")
    for _ in range(3):
        say(tiny, people.admin.id, "advance --force wrapping up")
    assert topic() == "Acme Rockets · Gold · Onboarding complete"
    with tiny.bot.db.transaction() as session:
        sent = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "channel.topic_set")
        ).all()
    assert len(sent) == 8  # set up, then each of the seven moves


def _playbook_at_the_limits() -> str:
    """A playbook at the limits the playbook model accepts (40 stages, 60 tasks, 20 gates,
    150-character titles, 80-character roles and 60-character keys), full of `&` and `<`."""
    stages = [
        {
            "key": f"stage-{s:02d}-" + "k" * 51,
            "name": (f"Stage {s} R&D & QA & UAT <sign-off> " * 4)[:100],
            "objective": ("Make sure R&D & QA <agree> on everything " * 20)[:500],
            "owner": ("Onboarding Lead & Account Manager & Solutions Architect " * 2)[:80],
            "duration_days": {"min": 1, "max": 30},
            "tasks": [
                {
                    "title": (f"Task {t}: confirm R&D <-> QA & UAT hand-off " * 5)[:150],
                    "owner": ("Client IT Lead & Compliance & Security Engineer " * 2)[:80],
                    "due_day": t % 30,
                }
                for t in range(60)
            ],
            "gates": [
                {
                    "key": f"gate-{s:02d}-{g:02d}-" + "g" * 49,
                    "name": (f"Gate {g}: R&D & QA <ok> & UAT signed " * 5)[:150],
                    "kind": "condition",
                }
                for g in range(20)
            ],
        }
        for s in range(40)
    ]
    return yaml.safe_dump({"key": "big", "name": "Big & heavy", "stages": stages})


def test_a_playbook_at_the_model_limits_can_be_walked(
    start_bot: BotFactory, tmp_path: Path, people: People
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "big.yaml").write_text(_playbook_at_the_limits())
    onboard = start_bot(playbook_dir=folder)
    onboard_client(onboard, people, playbook="big")
    status = say(onboard, people.am.id, "status")
    assert "Stage 0 R&amp;D" in status and "…and 60 more" not in status
    assert re.search(r"…and \d+ more", status), status  # the list is cut to fit, and says so
    assert "next stage" in say(onboard, people.admin.id, "advance --force limits")
    assert "cannot close yet" in say(onboard, people.am.id, "advance")
    assert "went back" in say(onboard, people.am.id, "back 1 because")
    assert "Stage 0 R&amp;D" in card(onboard)
    with onboard.bot.db.transaction() as session:
        unsent = session.scalars(
            select(OutboxMessage.key).where(OutboxMessage.status != "sent")
        ).all()
    assert unsent == []


def test_a_task_ticked_by_mistake_is_reopened(tiny: Running, people: People) -> None:
    am = people.am.id
    tiny.driver.click_checkbox(people.engineer.id, channel_of(tiny), "task_done", ["1:2"])

    def done() -> list[int]:
        with tiny.bot.db.transaction() as session:
            return list(session.scalars(select(Task.number).where(Task.done_at.is_not(None))))

    tiny.wait_until(lambda: done() == [2])  # one mis-click on the card
    tiny.deliver()
    assert "1 of 2 done" in card(tiny)

    assert "Task 2 reopened: Hold the kickoff call" in say(tiny, am, "task undo 2")
    assert done() == [] and "0 of 2 done" in card(tiny)
    assert "Task 2 is not done" in say(tiny, am, "task undo 2")
    assert "no task 9" in say(tiny, am, "task undo 9")
    assert "Give the task's number" in say(tiny, am, "task undo")
    assert "task undo &lt;n&gt;" in say(tiny, am, "task reopen 2")  # shown escaped
    assert "for the onboarding team" in say(tiny, people.client.id, "task undo 2")
    # Ticked again, the card shows it again: each change refreshes it.
    say(tiny, am, "task done 2")
    assert "1 of 2 done" in card(tiny)
    with tiny.bot.db.transaction() as session:
        reopened = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "task.reopened")
        ).one()
    assert (reopened.actor, reopened.subject) == (am, "task:2")
    assert "| undo &lt;n&gt; |" in say(tiny, am, "help")  # `/onboard help` names it


def test_an_advance_typed_twice_at_once_moves_the_journey_once(
    tiny: Running, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both hold after finding the client (for at most a moment): without a lock on its row,
    # both would move from Kickoff, and Build would be announced twice.
    say(tiny, people.am.id, "gate kickoff-held pass")
    together = threading.Barrier(2)
    playbook_of = journey_service.playbook_of

    def meet(client: Client) -> object:
        with contextlib.suppress(threading.BrokenBarrierError):
            together.wait(2)
        return playbook_of(client)

    monkeypatch.setattr(journey_service, "playbook_of", meet)
    refused: list[Exception] = []

    def advance() -> None:
        try:
            tiny.bot.journey.advance("", channel_of(tiny), Cause(people.am.id))
        except OnboardError as exc:  # the second finds Build's gates open
            refused.append(exc)

    moves = [threading.Thread(target=advance) for _ in "ab"]
    for move in moves:
        move.start()
    for move in moves:
        move.join(30)
    with tiny.bot.db.transaction() as session:
        moved = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "stage.advanced")
        ).all()
        stage = session.scalars(select(Client.stage_key)).one()
    assert (len(moved), stage, len(refused)) == (1, "build", 1)
