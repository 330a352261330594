"""Reminders arrive on the right business day at the client's local time, and stop in time."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from onboard.bot import erasure
from onboard.bot.active_clients import each_active_client
from onboard.storage.audit import Cause
from onboard.storage.models import Client, OutboxMessage, Task
from tests.conftest import SIGNING_SECRET, BotFactory, FixedClock, People, Running
from tests.handlers.test_approvals import SIGNOFF
from tests.handlers.test_journey import channel_of, say
from tests.handlers.test_new_client import onboard_client

MONDAY = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)  # 08:00 in London


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(MONDAY)


def signoff_bot(start_bot: BotFactory, tmp_path: Path, clock: FixedClock) -> Running:
    """The bot on the clock tests move, with the one-stage sign-off playbook `tiny`."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(SIGNOFF)
    return start_bot(clock=clock, playbook_dir=folder)


@pytest.fixture
def kickoff(start_bot: BotFactory, tmp_path: Path, people: People, clock: FixedClock) -> Running:
    onboard = signoff_bot(start_bot, tmp_path, clock)
    onboard_client(onboard, people, playbook="tiny")
    onboard.workspace.channels[channel_of(onboard)].members.append(people.client.id)
    return onboard


def reminders(onboard: Running) -> list[str]:
    return [
        m.text
        for m in onboard.workspace.messages_in(channel_of(onboard))
        if m.text.startswith(("Due today", "Overdue")) or "tasks need attention" in m.text
    ]


def sweep(onboard: Running, clock: FixedClock, when: dt.datetime) -> int:
    clock.now = when
    queued = onboard.bot.nudges.tasks(when)
    onboard.deliver()
    return queued


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=dt.UTC)


def test_a_task_due_today_is_announced_at_nine_local_once(
    kickoff: Running, clock: FixedClock
) -> None:
    assert sweep(kickoff, clock, at(23, 8, 59)) == 0
    assert sweep(kickoff, clock, at(23, 9)) == 1
    assert sweep(kickoff, clock, at(23, 9, 5)) == 0  # the same day: nothing twice
    assert reminders(kickoff) == ["Due today: Send the agenda (Acme Rockets)"]


def test_overdue_reminders_follow_the_rhythm_skip_the_weekend_and_stop_at_the_cap(
    kickoff: Running, clock: FixedClock
) -> None:
    for day in (23, 24, 25, 26, 27, 28, 29, 30):  # Mon 23 … Mon 30 (28, 29 weekend)
        sweep(kickoff, clock, at(day, 10))
    sweep(kickoff, clock, dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC))
    about_agenda = [r for r in reminders(kickoff) if "Send the agenda" in r]
    assert about_agenda == [
        "Due today: Send the agenda (Acme Rockets)",
        # Tuesday the second task is due too: one message names both.
        "2 tasks need attention (Acme Rockets): 1. Send the agenda (overdue by 1 business day),"
        " 2. Hold the kickoff call (due today)",
        "Overdue by 3 business days: Send the agenda (Acme Rockets)",
        "Overdue by 5 business days: Send the agenda (Acme Rockets)",
    ]


def test_a_busy_morning_is_one_message_per_person_and_a_task_due_later_gets_its_own(
    kickoff: Running, people: People, clock: FixedClock
) -> None:
    clock.now = at(23, 8)
    for n in range(11):
        say(kickoff, people.am.id, f"task add Check <backup> #{n} in 0 days")
    say(kickoff, people.am.id, f"task assign 1 <@{people.engineer.id}|eric>")
    assert sweep(kickoff, clock, at(23, 9)) == 2  # the engineer's DM, and the channel's message
    dm = [
        c.args
        for c in kickoff.workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == people.engineer.id
    ]
    assert [m["text"] for m in dm] == ["Due today: Send the agenda (Acme Rockets)"]
    [morning] = reminders(kickoff)
    assert morning.startswith("11 tasks need attention (Acme Rockets): 3. Check &lt;backup&gt; #0")
    assert morning.endswith("and 1 more")  # ten listed; /onboard status has them all
    assert sweep(kickoff, clock, at(23, 11)) == 0  # the same day: nothing twice

    say(kickoff, people.am.id, "task add Late arrival in 0 days")
    assert sweep(kickoff, clock, at(23, 11, 5)) == 1
    assert reminders(kickoff)[1:] == ["Due today: Late arrival (Acme Rockets)"]


def test_no_reminders_on_a_public_holiday_in_the_clients_country(
    kickoff: Running, clock: FixedClock
) -> None:
    christmas = dt.datetime(2026, 12, 25, 10, tzinfo=dt.UTC)
    assert sweep(kickoff, clock, christmas) == 0


def test_an_assigned_task_is_a_direct_message_in_the_clients_morning(
    start_bot: BotFactory, people: People, tmp_path: Path, clock: FixedClock
) -> None:
    onboard = signoff_bot(start_bot, tmp_path, clock)
    onboard_client(onboard, people, playbook="tiny", timezone="Pacific/Auckland", country="NZ")
    say(onboard, people.am.id, f"task assign 1 <@{people.engineer.id}|eric>")
    # 09:00 Monday in Auckland is 20:00 Sunday UTC; the client's Monday is what counts.
    assert onboard.bot.nudges.tasks(dt.datetime(2026, 11, 22, 19, 59, tzinfo=dt.UTC)) == 0
    assert onboard.bot.nudges.tasks(dt.datetime(2026, 11, 22, 20, 0, tzinfo=dt.UTC)) == 1
    onboard.deliver()
    dms = [
        c.args["text"]
        for c in onboard.workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == people.engineer.id
    ]
    assert dms == ["Due today: Send the agenda (Acme Rockets)"]


def test_a_task_of_someone_who_has_left_is_reminded_in_the_channel_not_in_their_dm(
    kickoff: Running, people: People, clock: FixedClock
) -> None:
    # Eric is given the agenda, then leaves the agency: his Slack account is deactivated. A
    # DM there is read by no one; the channel hears of the task, and that he has left.
    say(kickoff, people.am.id, f"task assign 1 <@{people.engineer.id}|eric>")
    kickoff.workspace.users[people.engineer.id].deleted = True
    asked = len(kickoff.workspace.calls_to("users.info"))

    assert sweep(kickoff, clock, at(23, 9)) == 1
    assert sweep(kickoff, clock, at(24, 10)) == 1  # overdue, with Tuesday's task

    dms = [
        c.args
        for c in kickoff.workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == people.engineer.id
    ]
    assert dms == []
    monday, tuesday = [
        m for m in kickoff.workspace.messages_in(channel_of(kickoff)) if "agenda" in m.text
    ]
    assert monday.text == "Due today: Send the agenda (Acme Rockets); its assignee has left"
    assert f"<@{people.engineer.id}> (has left Slack: reassign it)" in str(monday.blocks)
    assert f"<@{people.engineer.id}> (has left Slack: reassign it)" in str(tuesday.blocks)
    assert "`/onboard task assign N @someone`" in str(tuesday.blocks)
    # Asked of Slack once: the directory remembers who someone is for a while.
    assert len(kickoff.workspace.calls_to("users.info")) - asked == 1


def test_an_erased_clients_tasks_are_not_reminded_any_more(
    kickoff: Running, clock: FixedClock
) -> None:
    # The client asks for its data to be erased while its onboarding is under way: the bot
    # sends it nothing more, neither a task's reminder nor a sign-off's nudge.
    with kickoff.bot.db.transaction() as session:
        slug = session.scalars(select(Client.slug)).one()
    erasure.erase(kickoff.bot.db, slug, Cause.system(), reason="request", now=clock.now)

    assert sweep(kickoff, clock, at(23, 9)) == 0
    assert sweep(kickoff, clock, at(24, 10)) == 0
    assert reminders(kickoff) == []


def test_a_task_whose_due_day_was_muted_gets_no_more_overdue_reminders_than_the_cap(
    kickoff: Running, people: People, clock: FixedClock
) -> None:
    # Reminders are muted over Monday 23 and Tuesday 24, the agenda's due day and the day
    # after. Its overdue reminders then come as they would have (every other business day),
    # and stop after three, as when its due day's reminder went out.
    say(kickoff, people.am.id, "mute reminders 1")
    for n in range(2, 25):
        day = dt.date(2026, 11, 23) + dt.timedelta(days=n)
        sweep(kickoff, clock, dt.datetime(day.year, day.month, day.day, 10, tzinfo=dt.UTC))

    about_agenda = [r for r in reminders(kickoff) if "Send the agenda" in r]
    assert about_agenda == [
        "Overdue by 3 business days: Send the agenda (Acme Rockets)",
        "Overdue by 5 business days: Send the agenda (Acme Rockets)",
        "Overdue by 7 business days: Send the agenda (Acme Rockets)",
    ]


def test_muted_reminders_stay_quiet_until_unmuted(
    kickoff: Running, people: People, clock: FixedClock
) -> None:
    assert "paused until" in say(kickoff, people.am.id, "mute reminders 2")
    assert sweep(kickoff, clock, at(24, 10)) == 0
    assert "back on" in say(kickoff, people.am.id, "mute reminders 0")
    assert sweep(kickoff, clock, at(24, 10, 5)) == 1  # task 1 overdue, task 2 due today
    assert "Use `/onboard mute" in say(kickoff, people.am.id, "mute reminders forever")


def post_design(kickoff: Running, people: People) -> None:
    """The account manager posts a design for the client's sign-off."""
    say(kickoff, people.am.id, "deliverable")
    view_id = kickoff.wait_for_view(people.am.id)
    kickoff.driver.submit_view(
        people.am.id, view_id, {"title": "Design", "approvers": [people.client.id]}
    )
    kickoff.deliver()


def test_pending_sign_offs_are_nudged_once_per_business_day(
    kickoff: Running, people: People, clock: FixedClock
) -> None:
    post_design(kickoff, people)
    nudges = kickoff.bot.nudges
    commits = kickoff.transactions()
    assert nudges.approvals(at(25, 8)) == 0  # before nine in London
    assert len(commits) == 1  # the list alone: its client's morning has not come
    assert nudges.approvals(at(24, 10)) == 0  # one business day: not yet
    assert nudges.approvals(at(25, 10)) == 1
    commits.clear()
    assert nudges.approvals(at(25, 16)) == 0
    assert len(commits) == 1  # the list alone: nudged today already
    assert nudges.approvals(at(26, 10)) == 1
    kickoff.deliver()
    texts = [m.text for m in kickoff.workspace.messages_in(channel_of(kickoff))]
    assert sum(t.startswith("Waiting") for t in texts) == 2


def test_a_sign_off_left_pending_at_completion_is_not_nudged_any_more(
    kickoff: Running, people: People, clock: FixedClock
) -> None:
    # The journey was forced to its end with a deliverable still waiting: the client is done
    # and its channel may be archived, where a daily nudge would only fail, every day.
    post_design(kickoff, people)
    for _ in range(10):  # through every stage left
        say(kickoff, people.admin.id, "advance --force done")
    with kickoff.bot.db.transaction() as session:
        assert session.scalars(select(Client.status)).one() == "completed"

    assert [kickoff.bot.nudges.approvals(at(day, 10)) for day in (25, 26, 27, 30)] == [0] * 4


def test_a_completed_clients_channel_is_offered_for_archiving_and_archived_on_click(
    kickoff: Running, people: People, clock: FixedClock
) -> None:
    for _ in range(3):
        say(kickoff, people.admin.id, "advance --force demo")
    with kickoff.bot.db.transaction() as session:
        assert session.scalars(select(Client.status)).one() == "completed"
    nudges = kickoff.bot.nudges
    assert nudges.archive_offers(MONDAY + dt.timedelta(days=13)) == 0
    # Tuesday 8 December, at 09:00 in London: its working day has begun.
    assert nudges.archive_offers(MONDAY + dt.timedelta(days=15, hours=1)) == 1
    # Hourly, for ever: a client offered once is not read (nor written) again.
    statements: list[str] = []
    event.listen(
        kickoff.bot.db.engine,
        "before_cursor_execute",
        lambda _conn, _cursor, sql, *_: statements.append(sql.split()[0].upper()),
    )
    assert nudges.archive_offers(MONDAY + dt.timedelta(days=16)) == 0
    assert [s for s in statements if s in ("SELECT", "INSERT")] == ["SELECT"]
    kickoff.deliver()
    channel = channel_of(kickoff)
    kickoff.driver.click_button(people.client.id, channel, "archive_channel")
    kickoff.wait_until(
        lambda: [e for e in kickoff.workspace.ephemerals if e.user == people.client.id]
    )
    assert not kickoff.workspace.channels[channel].is_archived
    kickoff.driver.click_button(people.am.id, channel, "archive_channel")
    kickoff.wait_until(
        lambda: kickoff.workspace.calls_to("conversations.archive") or kickoff.deliver()
    )
    kickoff.deliver()
    assert kickoff.workspace.channels[channel].is_archived


def complete(kickoff: Running, people: People) -> None:
    """The team forces the journey to its end, this Monday."""
    for _ in range(3):
        say(kickoff, people.admin.id, "advance --force demo")
    with kickoff.bot.db.transaction() as session:
        assert session.scalars(select(Client.status)).one() == "completed"


def archive_offers_sent(kickoff: Running) -> list[str]:
    with kickoff.bot.db.transaction() as session:
        return list(
            session.scalars(
                select(OutboxMessage.key).where(OutboxMessage.key.like("%:archive-offer"))
            )
        )


def test_the_archive_offer_waits_for_the_clients_working_day(
    kickoff: Running, people: People
) -> None:
    # Three weeks after the client completed, the hourly job runs through a weekend night:
    # the offer is a message in the client's channel, so it comes in its working hours.
    complete(kickoff, people)
    nudges = kickoff.bot.nudges
    sunday_night = dt.datetime(2026, 12, 13, 3, 0, tzinfo=dt.UTC)  # 03:00 in London
    assert nudges.archive_offers(sunday_night) == 0
    assert nudges.archive_offers(dt.datetime(2026, 12, 14, 8, 0, tzinfo=dt.UTC)) == 0  # 08:00
    assert archive_offers_sent(kickoff) == []
    assert nudges.archive_offers(dt.datetime(2026, 12, 14, 9, 0, tzinfo=dt.UTC)) == 1  # Monday 9


def test_an_erased_clients_channel_is_never_offered_for_archiving(
    kickoff: Running, people: People, clock: FixedClock
) -> None:
    # The client completed, then asked for its data to be erased: the bot posts nothing more
    # in its channel, not even the offer to archive it.
    complete(kickoff, people)
    with kickoff.bot.db.transaction() as session:
        slug = session.scalars(select(Client.slug)).one()
    erasure.erase(kickoff.bot.db, slug, Cause.system(), reason="request", now=clock.now)

    a_working_monday = MONDAY + dt.timedelta(days=21, hours=2)  # 10:00 in London
    assert kickoff.bot.nudges.archive_offers(a_working_monday) == 0
    assert archive_offers_sent(kickoff) == []


def test_running_a_job_twice_for_the_same_moment_sends_nothing_twice(
    kickoff: Running, slack: object, database_url: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": kickoff.workspace.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": kickoff.bot.settings.slack_api_url,
        "DATABASE_URL": database_url,
        "ONBOARD_PLAYBOOK_DIR": str(kickoff.bot.settings.playbook_dir),
    }
    command = [sys.executable, "-m", "onboard", "jobs", "run", "task-reminders"]
    moment = ["--at", "2026-11-23T09:30:00+00:00"]
    first = subprocess.run(command + moment, env=env, capture_output=True, text=True, cwd=tmp_path)
    again = subprocess.run(command + moment, env=env, capture_output=True, text=True, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith("1 queued")
    assert again.stdout.strip().endswith("0 queued")
    assert len(reminders(kickoff)) == 1
    bad = subprocess.run([*command, "--at", "tomorrow"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "not an ISO date" in bad.stderr


def test_a_job_run_as_of_this_morning_beside_a_running_serve_sends_once(
    kickoff: Running, start_bot: BotFactory, database_url: str, tmp_path: Path
) -> None:
    # The operator re-runs this morning's reminders while `serve` runs, and Slack is slow.
    # The sweep decides as of 09:30, but its Slack calls are made now: a lease taken as of
    # 09:30 would look expired to `serve`, which would send the same reminder again.
    serve = start_bot(playbook_dir=kickoff.bot.settings.playbook_dir)  # the real clock
    serve.bot.delivery.start()
    kickoff.workspace.inject("chat.postMessage", delay=1.5, times=None)
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": kickoff.workspace.bot_token,
        "SLACK_API_URL": kickoff.bot.settings.slack_api_url,
        "DATABASE_URL": database_url,
        "ONBOARD_PLAYBOOK_DIR": str(kickoff.bot.settings.playbook_dir),
    }
    command = [sys.executable, "-m", "onboard", "jobs", "run", "task-reminders"]
    moment = ["--at", "2026-11-23T09:30:00+00:00"]

    done = subprocess.run(command + moment, env=env, capture_output=True, text=True, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("1 queued")
    kickoff.workspace.clear_faults()
    time.sleep(2)  # serve's worker looks every 0.5 s: long enough to have sent it again
    assert len(reminders(kickoff)) == 1


def test_the_sweep_holds_the_write_lock_one_client_at_a_time(
    kickoff: Running, people: People, clock: FixedClock
) -> None:
    # On SQLite a transaction holds the one write lock: a sweep over every client in one
    # transaction kept each ack arriving meanwhile waiting, for seconds with many clients.
    onboard_client(kickoff, people, playbook="tiny", name="Bolt Bikes")
    commits = kickoff.transactions()
    clock.now = at(23, 9)

    assert kickoff.bot.nudges.tasks(clock.now) == 2
    # Who of the assignees has left (read before, as Slack is asked), the list of clients,
    # then a transaction for each.
    assert len(commits) == 1 + 1 + 2


def test_the_sweep_visits_only_clients_with_a_reminder_to_send(
    kickoff: Running, people: People, clock: FixedClock
) -> None:
    # Each visit is a transaction and a turn of the write lock, and the sweep runs every five
    # minutes over every active client: the clients with nothing to send are left out of its list.
    onboard_client(kickoff, people, playbook="tiny", name="Bolt Bikes")
    with kickoff.bot.db.transaction() as session:
        bikes = session.scalars(select(Client).where(Client.name == "Bolt Bikes")).one()
        for task in session.scalars(select(Task).where(Task.client_id == bikes.id)):
            task.done_at = MONDAY
    commits = kickoff.transactions()

    clock.now = at(23, 8, 59)  # before nine in London: nobody's morning yet
    assert kickoff.bot.nudges.tasks(clock.now) == 0
    assert len(commits) == 2  # who has left, and the list

    clock.now = at(23, 9)  # Acme's task is due; Bolt Bikes has none left
    assert kickoff.bot.nudges.tasks(clock.now) == 1
    assert len(commits) == 2 + 3  # at nine: who has left and the list again, then Acme alone


def test_a_client_the_list_cannot_judge_is_visited_and_the_sweep_goes_on(
    kickoff: Running, people: People
) -> None:
    # A client whose row trips the list's check (say, a time zone this machine's tzdata lacks)
    # is left to its visit, as before there was a list, and the clients after it still come.
    onboard_client(kickoff, people, playbook="tiny", name="Bolt Bikes")
    visited: list[str] = []

    def wanted(client: Client) -> bool:
        if client.name == "Acme Rockets":
            raise ValueError("unknown time zone")
        return True

    def work(_session: object, client: Client) -> int:
        visited.append(client.name)
        return 1

    assert each_active_client(kickoff.bot.db, work, wanted=wanted) == 2
    assert visited == ["Acme Rockets", "Bolt Bikes"]


def test_a_client_whose_visit_fails_does_not_stop_the_sweep_for_the_others(
    kickoff: Running, people: People, caplog: pytest.LogCaptureFixture
) -> None:
    # Say Acme's stored playbook no longer validates: its visit raises, run after run. The
    # clients after it are still visited, and the sweep ends reporting the failure.
    onboard_client(kickoff, people, playbook="tiny", name="Bolt Bikes")
    visited: list[str] = []

    def work(_session: object, client: Client) -> int:
        if client.name == "Acme Rockets":
            raise ValueError("the playbook snapshot no longer validates")
        visited.append(client.name)
        return 1

    with pytest.raises(RuntimeError, match="failed for 1 of its visits"):
        each_active_client(kickoff.bot.db, work)
    assert visited == ["Bolt Bikes"]
    assert "no longer validates" in caplog.text


def test_a_london_client_chosen_as_england_hears_nothing_on_the_late_summer_bank_holiday(
    start_bot: BotFactory, people: People, tmp_path: Path, clock: FixedClock
) -> None:
    # Friday 28 August 2026: the account manager picks "United Kingdom — England" for a
    # London client. Monday 31 is England's Late Summer Bank Holiday (not Scotland's, so not
    # in the list for the whole of the UK).
    onboard = signoff_bot(start_bot, tmp_path, clock)
    clock.now = dt.datetime(2026, 8, 28, 8, tzinfo=dt.UTC)
    onboard_client(onboard, people, playbook="tiny", country="GB-ENG")

    assert sweep(onboard, clock, dt.datetime(2026, 8, 28, 10, tzinfo=dt.UTC)) == 1
    bank_holiday = dt.datetime(2026, 8, 31, 10, tzinfo=dt.UTC)
    assert sweep(onboard, clock, bank_holiday) == 0
    assert sweep(onboard, clock, dt.datetime(2026, 9, 1, 10, tzinfo=dt.UTC)) == 1
    assert reminders(onboard) == [
        "Due today: Send the agenda (Acme Rockets)",
        # Tuesday is the first business day after Friday: overdue by one, not two.
        "2 tasks need attention (Acme Rockets): 1. Send the agenda (overdue by 1 business day),"
        " 2. Hold the kickoff call (due today)",
    ]


@pytest.mark.skipif(
    "postgresql" in os.environ.get("ONBOARD_TEST_DATABASE_URL", ""),
    reason="SQLite's one write lock, which every ack needs",
)
def test_who_has_left_is_asked_of_slack_outside_the_sweeps_write_transactions(
    kickoff: Running, people: People, clock: FixedClock
) -> None:
    # On SQLite a transaction holds the write lock every ack needs: a lookup inside it would
    # hold the acks up for as long as Slack takes to answer.
    say(kickoff, people.am.id, f"task assign 1 <@{people.engineer.id}|eric>")
    directory = kickoff.bot.directory
    slack = directory.gateway.call
    path = kickoff.bot.db.engine.url.database
    assert path is not None
    lock_held: list[bool] = []

    def users_info(method: str, **args: Any) -> dict[str, Any]:
        if method == "users.info":
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # as an ack's transaction begins
                other.execute("ROLLBACK")
                lock_held.append(False)
            except sqlite3.OperationalError:
                lock_held.append(True)
            finally:
                other.close()
        return slack(method, **args)

    directory.gateway.call = users_info  # type: ignore[method-assign]
    directory._people.clear()  # nobody known yet: the sweep asks
    sweep(kickoff, clock, at(23, 9))
    assert lock_held == [False]


def test_slack_not_answering_who_has_left_does_not_hold_back_the_reminders(
    kickoff: Running, people: People, clock: FixedClock
) -> None:
    say(kickoff, people.am.id, f"task assign 1 <@{people.engineer.id}|eric>")
    kickoff.bot.directory._people.clear()
    kickoff.workspace.inject("users.info", status=503, times=None)
    sweep(kickoff, clock, at(23, 9))
    dms = [
        c.args["text"]
        for c in kickoff.workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == people.engineer.id
    ]
    assert len(dms) == 1  # DMed, as before Slack could say whether they have left
