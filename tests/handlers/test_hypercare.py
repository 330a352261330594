"""A client's whole hypercare through Slack: stand-ups at the right local times, answers, exit, BAU.

The clock is fixed and moved by hand; every sweep is the one the scheduler runs (`JOBS`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from onboard.bot.gateway import SlackRefused
from onboard.schedules.jobs import JOBS
from onboard.standin.records import Message
from onboard.storage.models import (
    AuditEvent,
    Client,
    GateState,
    OutboxMessage,
    StandupAnswer,
    StandupPrompt,
)
from tests.conftest import BotFactory, FixedClock, People, Running
from tests.handlers.test_journey import channel_of, say
from tests.handlers.test_new_client import onboard_client
from tests.handlers.test_playbook_journeys import sign_off

UTC = dt.UTC
CRITERIA = [
    "issues-resolved",
    "sla-on-target",
    "satisfaction-score",
    "documentation-complete",
    "service-desk-trained",
    "ai-models-trained",
]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def sweep(onboard: Running, clock: FixedClock, when: dt.datetime, job: str = "standups") -> int:
    """The scheduler's sweep as of `when`, then whatever it queued, delivered."""
    clock.now = when
    queued = JOBS[job].run(onboard.bot, when)
    onboard.deliver()
    return queued


def prompts(onboard: Running) -> list[Message]:
    """Stand-up prompts and weekly reviews in the client's channel, oldest first."""
    return [
        m
        for m in onboard.workspace.messages_in(channel_of(onboard))
        if m.thread_ts is None and m.text.startswith(("Stand-up", "Weekly hypercare review"))
    ]


def thread(onboard: Running, ts: str) -> list[Message]:
    return [m for m in onboard.workspace.messages_in(channel_of(onboard)) if m.thread_ts == ts]


def dms(onboard: Running, user: str) -> list[str]:
    return [
        str(c.args.get("text"))
        for c in onboard.workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == user and not c.faulted
    ]


def actions(onboard: Running) -> list[str]:
    with onboard.bot.db.transaction() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def answer(onboard: Running, user: str, **fields: Any) -> dict[str, Any]:
    """`user` presses Post my update under the newest prompt and submits the modal."""
    before = len(onboard.workspace.open_views_for(user))
    onboard.driver.click_button(user, channel_of(onboard), "standup_answer")
    view_id = onboard.wait_for_view(user, after=before)
    form = {"yesterday": "Cut over the mail flow", "today": "Watch the alerts", "health": "green"}
    reply = onboard.driver.submit_view(user, view_id, {**form, **fields}).json()
    onboard.deliver()
    return reply


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at("2027-03-24T09:00"))


@pytest.fixture
def live(start_bot: BotFactory, people: People, clock: FixedClock) -> Running:
    """Acme Rockets (Platinum, London) forced through to its go-live on Thu 25 March 2027."""
    onboard = start_bot(clock=clock)
    onboard.bot.standups.pacer.per_channel = 0  # the story does not wait a second per post
    onboard_client(onboard, people, tier="Platinum", go_live="2027-03-25")
    onboard.workspace.channels[channel_of(onboard)].members.append(people.client.id)
    for _ in range(4):
        assert "next stage" in say(onboard, people.admin.id, "advance --force the story skips it")
    clock.now = at("2027-03-25T08:00")  # 08:00 GMT: go-live, into hypercare
    assert "next stage" in say(onboard, people.admin.id, "advance --force cut over")
    return onboard


def test_a_whole_hypercare_window_through_slack(
    live: Running, people: People, clock: FixedClock
) -> None:
    am, engineer, client = people.am.id, people.engineer.id, people.client.id

    # Hypercare starts: the channel hears when the stand-ups are (Good Friday skipped).
    sweep(live, clock, at("2027-03-25T08:01"))
    started = [m for m in live.workspace.messages_in(channel_of(live)) if "Hypercare has" in m.text]
    assert len(started) == 1
    plan = str(started[0].blocks)
    assert "Thu 25 Mar, Mon 29 Mar, Tue 30 Mar, Wed 31 Mar, Thu 1 Apr" in plan
    assert "Client sign-off on hypercare completion" in plan

    # The team sets it up: a day off, someone away, and the client's IT lead answering too.
    assert "Tuesday 30 March" in say(live, am, "standup skip 2027-03-30 client offsite")
    with live.bot.db.transaction() as session:  # the reason may name people: not in the chain
        skipped = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "standup.day_skipped")
        ).one()
        assert skipped.details == {"day": "2027-03-30", "has_reason": True}
    assert "away" in say(live, am, f"standup away <@{engineer}|eric> 2027-03-31 2027-04-01")
    assert f"<@{client}>" in say(live, am, f"standup who <@{am}> <@{engineer}> <@{client}|carla>")

    # Thursday 25 March, 09:30 GMT (= UTC): the first prompt, not a minute before.
    assert sweep(live, clock, at("2027-03-25T09:29")) == 0
    assert prompts(live) == []
    sweep(live, clock, at("2027-03-25T09:30"))
    [first] = prompts(live)
    assert first.text.startswith("Stand-up for Acme Rockets, Thu 25 Mar")

    # Answers go in the prompt's thread, under each author's name; a blocker reaches the AM.
    assert answer(live, engineer) == {"response_action": "clear"}
    assert answer(live, client, health="amber", blockers="VPN drops for remote staff") == {
        "response_action": "clear"
    }
    replies = thread(live, first.ts)
    assert [r.text.split(":")[0] for r in replies] == [
        f"Stand-up update from <@{engineer}>",
        f"Stand-up update from <@{client}>",
    ]
    escalations = [t for t in dms(live, am) if "reported" in t]
    assert len(escalations) == 1 and f"<@{client}> reported a blocker" in escalations[0]

    # One reminder, at 11:30, to the one who has not answered; never a second one.
    assert sweep(live, clock, at("2027-03-25T11:29")) == 0
    sweep(live, clock, at("2027-03-25T11:30"))
    sweep(live, clock, at("2027-03-25T13:00"))
    reminded = {
        u: [t for t in dms(live, u) if "still to come" in t] for u in (am, engineer, client)
    }
    assert {u: len(t) for u, t in reminded.items()} == {am: 1, engineer: 0, client: 0}

    # 17:00: the prompt becomes the day's summary, in place.
    sweep(live, clock, at("2027-03-25T17:00"))
    [summary] = prompts(live)
    assert summary.ts == first.ts and summary.edited
    shown = str(summary.blocks)
    assert "2 of 3 answered" in summary.text
    assert "VPN drops for remote staff" in shown and f"No update from <@{am}>" in shown
    assert "standup_answer" not in shown  # no button on a closed stand-up

    # Good Friday: nothing. The weekly review (Fridays) moves to Monday.
    assert sweep(live, clock, at("2027-03-26T09:30")) == 0

    # Monday 29 March, after the clocks went forward: 09:30 BST is 08:30 UTC.
    assert sweep(live, clock, at("2027-03-29T08:29")) == 0
    sweep(live, clock, at("2027-03-29T08:30"))
    monday = prompts(live)[1:]
    assert [m.text.split(":")[0] for m in monday] == [
        "Stand-up for Acme Rockets, Mon 29 Mar",
        "Weekly hypercare review, week 1",
    ]
    review = str(monday[1].blocks)
    assert "0 of 7 met" in review and "Thu 25 Mar · 2 of 3 answered · 1 blocker" in review
    answer(live, am, health="red", today="Chase the VPN vendor")
    sweep(live, clock, at("2027-03-29T16:00"))  # 17:00 BST
    assert "1 of 3 answered" in prompts(live)[1].text

    # Tuesday is the client's day off: no stand-up.
    assert sweep(live, clock, at("2027-03-30T08:30")) == 0

    # Wednesday: the engineer is away, so the reminder goes to the other two only.
    sweep(live, clock, at("2027-03-31T08:30"))
    sweep(live, clock, at("2027-03-31T10:30"))
    assert [
        len([t for t in dms(live, u) if "still to come" in t]) for u in (am, engineer, client)
    ] == [
        2,
        0,
        1,
    ]
    sweep(live, clock, at("2027-03-31T16:00"))

    # Thursday the bot is down all day: nothing stale is posted when it is back, it is recorded.
    count = len(prompts(live))
    sweep(live, clock, at("2027-04-01T16:30"))
    assert len(prompts(live)) == count
    assert "standup.missed" in actions(live)

    # Friday it is back at 11:00 BST: the 09:30 stand-up and review still go (before the cut-off).
    sweep(live, clock, at("2027-04-02T10:00"))
    assert [m.text.split(":")[0] for m in prompts(live)[-2:]] == [
        "Stand-up for Acme Rockets, Fri 2 Apr",
        "Weekly hypercare review, week 2",
    ]
    sweep(live, clock, at("2027-04-02T16:00"))

    # No more stand-ups after the fifth; weekly reviews go on to the end of the window.
    for day in ("2027-04-05", "2027-04-06", "2027-04-07", "2027-04-08"):
        assert sweep(live, clock, at(f"{day}T08:30")) == 0
    sweep(live, clock, at("2027-04-09T08:30"))
    assert prompts(live)[-1].text.startswith("Weekly hypercare review, week 3")

    # The report: held, missed, the day off.
    report = say(live, am, "standup report --from 2027-03-25 --to 2027-04-02")
    assert "4 stand-ups held, 1 missed" in report
    assert "day off: client offsite" in report and "missed (the bot was down" in report

    # Exit: the criteria are gates; when all hold (the sign-off by the client) the bot says so.
    for key in CRITERIA:
        if key != "satisfaction-score":  # the survey decides it, not the team
            assert "Recorded" in say(live, am, f"gate {key} pass")
    sign_off(live, people, "hypercare-signoff")
    say(live, am, "survey")  # the satisfaction criterion is the survey's
    live.driver.click_button(client, channel_of(live), "survey_score_9")
    live.wait_until(lambda: satisfied(live))  # the client scored 9/10: the gate holds
    sweep(live, clock, at("2027-04-12T08:00"))
    ready = [m for m in live.workspace.messages_in(channel_of(live)) if "exit criterion" in m.text]
    assert len(ready) == 1 and "/onboard advance" in str(ready[0].blocks)

    # The journey moves on to BAU; the monthly (Platinum) review cadence starts, with the SDM.
    assert "service delivery manager" in say(live, am, f"sdm <@{people.admin.id}|ada>")
    clock.now = at("2027-04-12T09:00")
    assert "next stage" in say(live, am, "advance")
    sweep(live, clock, at("2027-04-12T09:01"))
    bau = [m for m in live.workspace.messages_in(channel_of(live)) if "business-as-usual" in m.text]
    assert len(bau) == 1
    assert "monthly" in str(bau[0].blocks) and "Wed 12 May 2027" in str(bau[0].blocks)
    assert sweep(live, clock, at("2027-04-16T08:30")) == 0  # no more reviews after exit

    # The review reminder goes to the SDM on the due day at 09:00 their client's time.
    assert sweep(live, clock, at("2027-05-12T07:59"), "service-reviews") == 0
    assert sweep(live, clock, at("2027-05-12T08:00"), "service-reviews") == 1
    assert sweep(live, clock, at("2027-05-12T12:00"), "service-reviews") == 0
    reminders = [t for t in dms(live, people.admin.id) if t.startswith("Service review")]
    assert reminders == ["Service review due on Wed 12 May: Acme Rockets (monthly)"]

    recorded = actions(live)
    for action in (
        "hypercare.started",
        "standup.prompted",
        "standup.posted",
        "standup.answered",
        "standup.escalated",
        "standup.reminded",
        "standup.summarised",
        "standup.day_skipped",
        "hypercare.review_prompted",
        "hypercare.exit_ready",
        "hypercare.exited",
        "bau.started",
        "bau.review_reminded",
    ):
        assert action in recorded, action


def test_rerunning_a_sweep_for_the_same_moment_sends_nothing_new(
    live: Running, clock: FixedClock
) -> None:
    moments = [at("2027-03-25T08:01"), at("2027-03-25T09:30"), at("2027-03-25T11:30")]
    moments.append(at("2027-03-25T17:00"))
    for moment in moments:
        sweep(live, clock, moment)
        with live.bot.db.transaction() as session:
            rows = session.scalar(select(func.count()).select_from(OutboxMessage))
        calls = len(live.workspace.calls)
        assert sweep(live, clock, moment) == 0
        with live.bot.db.transaction() as session:
            assert session.scalar(select(func.count()).select_from(OutboxMessage)) == rows
        assert len(live.workspace.calls) == calls
    with live.bot.db.transaction() as session:
        assert session.scalars(select(StandupPrompt.status)).all() == ["closed"]
        assert session.scalars(select(Client.stage_key)).one() == "hypercare"


def test_the_team_tunes_stand_ups_from_slack(
    live: Running, people: People, clock: FixedClock
) -> None:
    am = people.am.id
    sweep(live, clock, at("2027-03-25T08:01"))
    assert "before the cut-off" in say(live, am, "standup time 17:30")
    assert "24-hour time" in say(live, am, "standup time 25:00")
    assert "Write dates as" in say(live, am, "standup skip tomorrow")
    assert "over already" in say(live, am, "standup skip 2027-03-24")
    assert "standup away" in say(live, am, "standup away 2027-03-26")
    say(live, am, "standup time 10:15")
    say(live, am, "standup cutoff 16:00")
    assert "30 minutes" in say(live, am, "standup reminder 30m")
    status = say(live, am, "standup")
    assert "10:15 (Europe/London)" in status and "Thu 25 Mar 10:15 · stand-up" in status
    assert f"<@{am}> <@{people.engineer.id}> (the team)" in status

    assert sweep(live, clock, at("2027-03-25T09:30")) == 0
    sweep(live, clock, at("2027-03-25T10:15"))
    assert len(prompts(live)) == 1
    assert sweep(live, clock, at("2027-03-25T10:44")) == 0
    assert sweep(live, clock, at("2027-03-25T10:45")) == 2  # the AM and the engineer
    sweep(live, clock, at("2027-03-25T16:00"))
    assert "Closed at 16:00" in str(prompts(live)[0].blocks)

    # Paused: Monday's stand-up does not happen; the report says so.
    assert "paused" in say(live, am, "standup pause")
    sweep(live, clock, at("2027-03-29T15:00"))  # after Monday's cut-off
    assert len(prompts(live)) == 1
    assert "back on" in say(live, am, "standup resume")
    report = say(live, am, "standup report")
    assert "1 stand-up held" in report and "paused" in report and "0 of 2 updates" in report

    # The client cannot change any of it.
    assert "for the onboarding team" in say(live, people.client.id, "standup pause")


def test_only_the_stand_ups_responders_answer_it_and_the_summary_counts_them(
    live: Running, people: People, clock: FixedClock
) -> None:
    am, engineer, admin = people.am.id, people.engineer.id, people.admin.id
    client = people.client.id
    sweep(live, clock, at("2027-03-25T08:01"))
    sweep(live, clock, at("2027-03-25T09:30"))  # asks the account manager and the team

    # The client's person sees the button in the shared channel, but is not asked.
    live.driver.click_button(client, channel_of(live), "standup_answer")
    told = live.wait_until(lambda: [e for e in live.workspace.ephemerals if e.user == client])
    assert "not one of them" in told[-1].text
    assert live.workspace.open_views_for(client) == []

    # The engineer answers, then is taken off; the admin joins; the AM is away today.
    answer(live, engineer)
    say(live, am, f"standup who <@{am}> <@{admin}>")
    answer(live, admin)
    say(live, am, f"standup away <@{am}|amy> 2027-03-25")
    sweep(live, clock, at("2027-03-25T17:00"))

    [summary] = prompts(live)
    assert "1 of 1 answered" in summary.text  # the admin, of those asked and not away
    with live.bot.db.transaction() as session:
        assert len(session.scalars(select(StandupAnswer)).all()) == 2  # both updates kept


def test_an_update_whose_posting_answer_was_lost_is_in_the_thread_once(
    live: Running, people: People, clock: FixedClock
) -> None:
    # An update is a reply in the stand-up's thread. Slack posted it, then the connection
    # dropped before its answer: the retry must look in the thread, which the channel's
    # history does not list, or it posts the update again.
    sweep(live, clock, at("2027-03-25T08:01"))
    sweep(live, clock, at("2027-03-25T09:30"))
    [first] = prompts(live)
    live.workspace.inject("chat.postMessage", lose_answer=True, times=1)
    answer(live, people.engineer.id)
    clock.now += dt.timedelta(minutes=10)  # past the retry's backoff
    live.deliver()
    replies = [m.text.split(":")[0] for m in thread(live, first.ts)]
    assert replies == [f"Stand-up update from <@{people.engineer.id}>"]


def test_red_health_reaches_the_team_in_the_thread_when_the_account_managers_dm_is_refused(
    live: Running, people: People, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The account manager has left and their Slack account is deactivated: Slack refuses
    # the bot's DMs to them. The engineer's Red health must still reach a person.
    am, engineer, admin = people.am.id, people.engineer.id, people.admin.id
    sweep(live, clock, at("2027-03-25T08:01"))
    say(live, am, f"standup who <@{am}> <@{engineer}> <@{admin}|ada>")
    sweep(live, clock, at("2027-03-25T09:30"))
    [first] = prompts(live)
    slack = live.bot.gateway.call

    def deactivated(method: str, **args: Any) -> dict[str, Any]:
        if method == "chat.postMessage" and args.get("channel") == am:
            raise SlackRefused(method, "user_disabled")
        return slack(method, **args)

    monkeypatch.setattr(live.bot.gateway, "call", deactivated)
    answer(live, engineer, health="red", blockers="Mail flow is down for everyone")

    # The alarm goes in the stand-up's thread, under the update, asking the others by name.
    replies = thread(live, first.ts)
    assert len(replies) == 2, [r.text for r in replies]  # before the fix: the update alone
    update, alarm = replies
    assert update.text.startswith(f"Stand-up update from <@{engineer}>")
    assert f"<@{engineer}> reported Red health at the stand-up of Acme Rockets" in alarm.text
    shown = str(alarm.blocks)
    assert f"<@{admin}>, can one of you pick this up?" in shown
    assert f"<@{engineer}>, " not in shown  # not asked to pick up their own alarm
    assert [t for t in dms(live, am) if "reported" in t] == []
    # And the admins hear of it as the account manager would have.
    assert [t for t in dms(live, admin) if "reported" in t] == [
        f"<@{engineer}> reported Red health at the stand-up of Acme Rockets"
    ]
    recorded = actions(live)
    assert "standup.escalated.refused" in recorded and "standup.escalated_in_thread" in recorded


def test_red_health_the_account_manager_reports_reaches_the_admins(
    live: Running, people: People, clock: FixedClock
) -> None:
    am, admin = people.am.id, people.admin.id
    sweep(live, clock, at("2027-03-25T08:01"))
    sweep(live, clock, at("2027-03-25T09:30"))

    answer(live, am, health="red", blockers="The client's firewall blocks our monitoring")

    assert [t for t in dms(live, admin) if "reported" in t] == [
        f"<@{am}> reported Red health at the stand-up of Acme Rockets"
    ]
    assert [t for t in dms(live, am) if "reported" in t] == []  # not told of their own alarm


def test_a_blocker_reworded_raises_no_second_alarm_but_red_health_does(
    live: Running, people: People, clock: FixedClock
) -> None:
    am, engineer = people.am.id, people.engineer.id
    sweep(live, clock, at("2027-03-25T08:01"))
    sweep(live, clock, at("2027-03-25T09:30"))

    def alarms() -> list[str]:
        return [t for t in dms(live, am) if "reported" in t]

    answer(live, engineer, health="amber", blockers="VPN donw for remote staff")
    assert alarms() == [f"<@{engineer}> reported a blocker at the stand-up of Acme Rockets"]
    answer(live, engineer, health="amber", blockers="VPN down for remote staff")  # a typo fixed
    assert len(alarms()) == 1
    answer(live, engineer, health="red", blockers="VPN down for remote staff")  # it got worse
    assert alarms()[1:] == [f"<@{engineer}> reported Red health at the stand-up of Acme Rockets"]
    answer(live, engineer, health="red", today="Chase the VPN vendor")  # still Red: known
    assert len(alarms()) == 2
    answer(live, engineer, health="red", blockers="The vendor is closed until Monday")
    assert len(alarms()) == 3  # the blocker had gone; a new one is news


def test_a_reminder_an_hour_and_a_half_after_the_stand_up_typed_as_1h30(
    live: Running, people: People, clock: FixedClock
) -> None:
    am = people.am.id
    sweep(live, clock, at("2027-03-25T08:01"))
    # The form the command's own error message suggests.
    assert "`1h30`" in say(live, am, "standup reminder soon")
    assert "90 minutes" in say(live, am, "standup reminder 1h30")
    sweep(live, clock, at("2027-03-25T09:30"))
    assert sweep(live, clock, at("2027-03-25T10:59")) == 0
    assert sweep(live, clock, at("2027-03-25T11:00")) == 2  # the AM and the engineer
    # The forms accepted before still are.
    for typed, minutes in [("2h", 120), ("90m", 90), ("1h 30m", 90), ("45", 45), ("1h 15", 75)]:
        assert f"{minutes} minutes" in say(live, am, f"standup reminder {typed}"), typed


def test_a_stand_up_for_sixty_people_says_how_many_it_does_not_name(
    live: Running, people: People, clock: FixedClock
) -> None:
    am = people.am.id
    team = [live.workspace.add_user(f"person{n}").id for n in range(60)]
    live.workspace.channels[channel_of(live)].members.extend(team)
    sweep(live, clock, at("2027-03-25T08:01"))
    say(live, am, "standup who " + " ".join(f"<@{u}|person{n}>" for n, u in enumerate(team)))
    sweep(live, clock, at("2027-03-25T09:30"))
    for user in team[:25]:
        answer(live, user)

    # While open: twenty named each way, and how many more.
    [prompt] = prompts(live)
    shown = str(prompt.blocks)
    assert "…and 5 more" in shown and "…and 15 more" in shown  # 25 answered, 35 waiting
    assert sum(f"<@{u}>" in shown for u in team) == 40

    # The summary: everyone is accounted for, named or counted.
    sweep(live, clock, at("2027-03-25T17:00"))
    [summary] = prompts(live)
    assert "25 of 60 answered" in summary.text
    shown = str(summary.blocks)
    assert "…and 5 more in the thread" in shown  # answered, beyond the twenty named
    assert f"No update from <@{team[25]}>" in shown and "…and 15 more" in shown
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in summary.blocks)


def satisfied(onboard: Running) -> bool:
    with onboard.bot.db.transaction() as session:
        status = session.scalars(
            select(GateState.status).where(GateState.gate_key == "satisfaction-score")
        ).first()
    return status == "passed"
