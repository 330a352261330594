"""Clients score their onboarding 0–10; only their approvers answer, and the team hears early."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from onboard.bot import erasure
from onboard.bot.surveys import hypercare_sweep
from onboard.storage.audit import Cause
from onboard.storage.models import Client, GateState, Survey, SurveyAnswer
from tests.conftest import BotFactory, FixedClock, People, Running
from tests.handlers.test_approvals import SIGNOFF
from tests.handlers.test_journey import channel_of, say
from tests.handlers.test_new_client import onboard_client

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def completed(start_bot: BotFactory, tmp_path: Path, people: People, clock: FixedClock) -> Running:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(SIGNOFF)
    onboard = start_bot(clock=clock, playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny")
    onboard.workspace.channels[channel_of(onboard)].members.append(people.client.id)
    say(onboard, people.am.id, "approvers")  # the primary contact becomes an approver
    for _ in range(3):
        say(onboard, people.admin.id, "advance --force wrapping up")
    return onboard


def answers(onboard: Running) -> list[tuple[str, int, str | None]]:
    with onboard.bot.db.transaction() as session:
        return [(a.user_id, a.score, a.comment) for a in session.scalars(select(SurveyAnswer))]


def score(onboard: Running, user: str, points: int) -> None:
    onboard.driver.click_button(user, channel_of(onboard), f"survey_score_{points}")


def test_an_approver_scores_comments_and_changes_their_mind(
    completed: Running, people: People
) -> None:
    texts = [m.text for m in completed.workspace.messages_in(channel_of(completed))]
    assert any(t.startswith("How was your onboarding?") for t in texts)
    score(completed, people.client.id, 9)
    view_id = completed.wait_for_view(people.client.id)
    completed.driver.submit_view(people.client.id, view_id, {"comment": "Smooth <!channel>"})
    assert answers(completed) == [(people.client.id, 9, "Smooth <!channel>")]
    score(completed, people.client.id, 7)
    completed.wait_until(lambda: answers(completed)[0][1] == 7)
    assert answers(completed) == [(people.client.id, 7, "Smooth <!channel>")]  # one answer each
    completed.deliver()
    survey = [
        m for m in completed.workspace.messages_in(channel_of(completed)) if "How was" in m.text
    ]
    assert "1 answer so far" in str(survey[0].blocks)


@pytest.mark.parametrize("who", ["am", "engineer", "stranger"])
def test_only_the_clients_approvers_may_answer(
    completed: Running,
    people: People,
    workspace,
    who: str,  # type: ignore[no-untyped-def]
) -> None:
    user = (
        workspace.add_user("olga.other", team_id="T0OTHER")
        if who == "stranger"
        else getattr(people, who)
    )
    workspace.channels[channel_of(completed)].members.append(user.id)
    score(completed, user.id, 10)
    told = completed.wait_until(lambda: [e for e in workspace.ephemerals if e.user == user.id])
    assert "for the client's approvers" in told[-1].text
    assert answers(completed) == []


def test_a_low_score_tells_the_account_manager_at_once(completed: Running, people: People) -> None:
    score(completed, people.client.id, 3)
    completed.wait_until(lambda: answers(completed))
    completed.deliver()
    alerts = [
        c.args["text"]
        for c in completed.workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == people.am.id and "satisfaction" in c.args["text"]
    ]
    assert alerts == ["Low satisfaction score from Acme Rockets: 3/10"]


def test_a_comment_added_later_keeps_quiet_and_a_new_score_keeps_the_comment(
    completed: Running, people: People, clock: FixedClock
) -> None:
    client = people.client.id
    score(completed, client, 3)
    view_id = completed.wait_for_view(client)
    clock.now = NOW + dt.timedelta(seconds=40)  # typing the comment takes a while
    completed.driver.submit_view(client, view_id, {"comment": "Slow handover"})
    completed.deliver()
    alerts = [
        c for c in completed.workspace.calls_to("chat.postMessage") if "3/10" in c.args["text"]
    ]
    assert len(alerts) == 1  # the score was told; its comment does not tell it again

    before = len(completed.workspace.open_views_for(client))
    score(completed, client, 8)  # a change of mind: the comment box shows what they wrote
    box = completed.workspace.views[completed.wait_for_view(client, after=before)]
    assert "Slow handover" in str(box.blocks)
    completed.driver.submit_view(client, box.id, {"comment": "Slow handover"})
    assert answers(completed) == [(client, 8, "Slow handover")]


def test_a_closed_survey_takes_no_answers(
    completed: Running, people: People, clock: FixedClock
) -> None:
    clock.now = NOW + dt.timedelta(days=15)
    score(completed, people.client.id, 8)
    told = completed.wait_until(
        lambda: [e for e in completed.workspace.ephemerals if e.user == people.client.id]
    )
    assert "closed" in told[-1].text
    assert answers(completed) == []


def test_the_hypercare_survey_decides_the_satisfaction_exit_criterion(
    start_bot: BotFactory,
    people: People,
    workspace,
    clock: FixedClock,  # type: ignore[no-untyped-def]
) -> None:
    onboard = start_bot(clock=clock)
    onboard_client(onboard, people)
    channel = channel_of(onboard)
    second = workspace.add_user("sam.client", team_id="T0CLIENT")
    workspace.channels[channel].members += [people.client.id, second.id]
    say(onboard, people.am.id, f"approvers add <@{people.client.id}> <@{second.id}>")
    for _ in range(5):  # into Go-Live & Hypercare
        say(onboard, people.admin.id, "advance --force testing the survey")
    assert "posted" in say(onboard, people.am.id, "survey")
    assert "already" in say(onboard, people.am.id, "survey")

    def gate() -> str:
        with onboard.bot.db.transaction() as session:
            return session.scalars(
                select(GateState.status).where(GateState.gate_key == "satisfaction-score")
            ).one()

    score(onboard, people.client.id, 9)
    onboard.wait_until(lambda: gate() == "passed")
    score(onboard, second.id, 5)  # the average falls to 7: below the seed's 8/10
    onboard.wait_until(lambda: gate() == "failed")
    digest = onboard.bot.digest.build(clock.now + dt.timedelta(minutes=1))
    assert digest.kpis["Client satisfaction"] == "7/10 from 2 answers in 91 days"
    # Sam leaves the client and is no longer an approver: his score no longer decides.
    say(onboard, people.am.id, f"approvers remove <@{second.id}>")
    score(onboard, people.client.id, 8)
    onboard.wait_until(lambda: gate() == "passed")


def test_the_hypercare_survey_is_not_spent_before_hypercare(
    start_bot: BotFactory,
    people: People,
    workspace,
    clock: FixedClock,  # type: ignore[no-untyped-def]
) -> None:
    onboard = start_bot(clock=clock)
    onboard_client(onboard, people)
    workspace.channels[channel_of(onboard)].members.append(people.client.id)
    assert "once the client is in hypercare" in say(onboard, people.am.id, "survey")
    for _ in range(5):  # into Go-Live & Hypercare
        say(onboard, people.admin.id, "advance --force testing the survey")
    assert "posted" in say(onboard, people.am.id, "survey")


def test_the_hypercare_survey_opens_by_itself_in_the_windows_last_week_once(
    start_bot: BotFactory, people: People, clock: FixedClock
) -> None:
    onboard = start_bot(clock=clock)
    onboard_client(onboard, people)
    for _ in range(5):  # into Go-Live & Hypercare (30 days)
        say(onboard, people.admin.id, "advance --force testing the survey")
    onboard_client(onboard, people, name="Bolt Bikes")  # at its start: not asked

    def sweep(days: int) -> int:
        at = NOW + dt.timedelta(days=days)
        return hypercare_sweep(onboard.bot.db, at, onboard.bot.standups.cares.surveyed_stages)

    assert sweep(22) == 0
    commits = onboard.transactions()
    assert sweep(23) == 1
    assert sweep(24) == 0  # once
    # A transaction for the list, then one per client it keeps (a write holds SQLite's lock no
    # longer): Acme Rockets, in hypercare and not asked yet. Bolt Bikes, at its start, is
    # left out, and so is Acme Rockets once asked.
    assert len(commits) == (1 + 1) + 1
    onboard.deliver()
    for name, surveys in (("client-acme-rockets", 1), ("client-bolt-bikes", 0)):
        channel = onboard.workspace.channel_by_name(name)
        assert channel is not None
        posted = onboard.workspace.messages_in(channel.id)
        assert sum("0–10" in m.text for m in posted) == surveys


def surveys_opened(onboard: Running) -> int:
    with onboard.bot.db.transaction() as session:
        return session.scalar(select(func.count(Survey.id))) or 0


def test_a_client_erased_in_hypercare_is_sent_no_survey_by_the_sweep_nor_on_command(
    start_bot: BotFactory, people: People, clock: FixedClock
) -> None:
    onboard = start_bot(clock=clock)
    onboard_client(onboard, people)
    for _ in range(5):  # into Go-Live & Hypercare (30 days)
        say(onboard, people.admin.id, "advance --force testing the survey")
    # The client asks for its data to be erased: it is sent nothing more.
    with onboard.bot.db.transaction() as session:
        slug = session.scalars(select(Client.slug)).one()
    erasure.erase(onboard.bot.db, slug, Cause.system(), reason="request", now=clock.now)

    at = NOW + dt.timedelta(days=23)  # the window's last week
    assert hypercare_sweep(onboard.bot.db, at, onboard.bot.standups.cares.surveyed_stages) == 0
    assert "erased" in say(onboard, people.am.id, "survey")
    assert surveys_opened(onboard) == 0


def test_a_client_erased_in_hypercare_gets_no_survey_when_its_journey_completes(
    start_bot: BotFactory, people: People, clock: FixedClock
) -> None:
    onboard = start_bot(clock=clock)
    onboard_client(onboard, people)
    for _ in range(5):  # into Go-Live & Hypercare
        say(onboard, people.admin.id, "advance --force testing the survey")
    with onboard.bot.db.transaction() as session:
        slug = session.scalars(select(Client.slug)).one()
    erasure.erase(onboard.bot.db, slug, Cause.system(), reason="request", now=clock.now)

    for _ in range(2):  # the team closes the journey: hypercare, then the move to BAU
        say(onboard, people.admin.id, "advance --force wrapping up")
    with onboard.bot.db.transaction() as session:
        assert session.scalars(select(Client.status)).one() == "completed"
    assert surveys_opened(onboard) == 0


def test_the_hypercare_survey_waits_for_the_clients_next_business_morning(
    start_bot: BotFactory, people: People, clock: FixedClock
) -> None:
    # Acme (London) goes live on Thursday 26 November: its window's last week begins on
    # Saturday 19 December. Nobody reads a survey posted on a Saturday, nor at 3 a.m.: it
    # opens on Monday 21 at nine, when the task reminders come too.
    onboard = start_bot(clock=clock)
    onboard_client(onboard, people)
    clock.now = dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC)
    for _ in range(5):  # into Go-Live & Hypercare (30 days)
        say(onboard, people.admin.id, "advance --force going live")

    opened = []
    at = dt.datetime(2026, 12, 18, 0, 0, tzinfo=dt.UTC)
    while at < dt.datetime(2026, 12, 23, tzinfo=dt.UTC) and not opened:
        if hypercare_sweep(onboard.bot.db, at, onboard.bot.standups.cares.surveyed_stages):
            opened.append(at)
        at += dt.timedelta(hours=1)  # the hourly sweep
    assert opened == [dt.datetime(2026, 12, 21, 9, 0, tzinfo=dt.UTC)]  # 09:00 in London (GMT)
