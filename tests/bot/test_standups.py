"""Stand-up scheduling holds up: crashes, lost answers, two schedulers, the date line, pacing.

Clients are put straight into hypercare in the database; the sweeps are the scheduler's own.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from onboard.bot.gateway import SlackRetryLater
from onboard.bot.playbook_files import available
from onboard.bot.standups import Pacer, add_months, care
from onboard.bot.standups.care import Cares
from onboard.schedules.jobs import JOBS
from onboard.standin.workspace import Workspace
from onboard.storage.db import Database
from onboard.storage.models import (
    AuditEvent,
    Client,
    Hypercare,
    OutboxMessage,
    StandupAnswer,
    StandupPrompt,
)
from tests.conftest import BotFactory, FixedClock, People, Running

UTC = dt.UTC
MANAGED = available()["managed-services"].snapshot()


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def in_hypercare(
    db: Database,
    workspace: Workspace,
    am: str,
    *,
    name: str = "Acme",
    timezone: str = "Europe/London",
    country: str = "GB",
    entered: dt.datetime,
    tier: str = "Gold",
) -> int:
    """A client already live and in the hypercare stage since `entered`, with its channel."""
    slug = name.lower().replace(" ", "-")
    channel = workspace.add_channel(
        f"client-{slug}", is_private=True, members=[workspace.bot_user_id, am]
    )
    with db.transaction() as session:
        client = Client(
            slug=slug,
            name=name,
            tier=tier,
            timezone=timezone,
            country=country,
            go_live=entered.date(),
            playbook_key="managed-services",
            playbook=MANAGED,
            stage_key="hypercare",
            status="active",
            channel_id=channel.id,
            channel_name=channel.name,
            stage_entered_at=entered,
            account_manager=am,
            created_at=entered,
        )
        session.add(client)
        session.flush()
        return client.id


def at_the_last_stage(
    onboard: Running, am: str, playbook_key: str, *, entered: dt.datetime, tier: str = "Gold"
) -> int:
    """A live client in the last stage of another playbook, with its channel."""
    client = in_hypercare(onboard.bot.db, onboard.workspace, am, entered=entered, tier=tier)
    snapshot = available()[playbook_key].snapshot()
    with onboard.bot.db.transaction() as session:
        row = session.get_one(Client, client)
        row.playbook_key, row.playbook = playbook_key, snapshot
        row.stage_key = snapshot["stages"][-1]["key"]
    return client


def command(onboard: Running, user: str, text: str, channel: str) -> str:
    """Type `/onboard <text>` in `channel`; the private answer, as text."""
    answer = onboard.driver.command(user, text, channel_id=channel)
    assert answer.status == 200, answer.text
    onboard.deliver()
    body = answer.json()
    return (body.get("text") or "") + str(body.get("blocks") or "")


def dms(onboard: Running, user: str) -> list[str]:
    """What the bot sent `user` directly."""
    return [
        str(c.args.get("text"))
        for c in onboard.workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == user and not c.error
    ]


def sweep(onboard: Running, clock: FixedClock, when: dt.datetime) -> int:
    clock.now = when
    queued = JOBS["standups"].run(onboard.bot, when)
    onboard.deliver()
    return queued


def posts(workspace: Workspace, channel: str) -> list[str]:
    return [m.text for m in workspace.messages_in(channel) if m.text.startswith("Stand-up")]


def channel_of(onboard: Running, client_id: int) -> str:
    with onboard.bot.db.transaction() as session:
        channel = session.get_one(Client, client_id).channel_id
    assert channel is not None
    return channel


def outbox_keys(onboard: Running) -> list[str]:
    with onboard.bot.db.transaction() as session:
        return list(session.scalars(select(OutboxMessage.key).order_by(OutboxMessage.id)))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at("2027-03-25T08:00"))


@pytest.fixture
def bot(start_bot: BotFactory, clock: FixedClock) -> Running:
    onboard = start_bot(clock=clock)
    onboard.bot.standups.pacer.per_channel = 0
    return onboard


def test_a_crash_between_the_outbox_write_and_the_send_posts_once_after_restart(
    start_bot: BotFactory, people: People, clock: FixedClock
) -> None:
    first = start_bot(clock=clock)
    client = in_hypercare(
        first.bot.db, first.workspace, people.am.id, entered=at("2027-03-25T07:00")
    )
    clock.now = at("2027-03-25T09:30")
    assert JOBS["standups"].run(first.bot, clock.now) == 2  # the announcement and the prompt
    # The process dies here: the prompt is committed in the outbox, nothing was sent.
    first.server.stop()
    first.bot.stop()
    assert posts(first.workspace, channel_of(first, client)) == []

    second = start_bot(clock=clock)
    assert JOBS["standups"].run(second.bot, clock.now) == 0  # the restart's catch-up adds nothing
    second.deliver()
    second.deliver()
    assert len(posts(second.workspace, channel_of(second, client))) == 1


def test_a_prompt_whose_answer_from_slack_was_lost_is_not_posted_twice(
    bot: Running, people: People, clock: FixedClock
) -> None:
    client = in_hypercare(bot.bot.db, bot.workspace, people.am.id, entered=at("2027-03-25T07:00"))
    original = bot.bot.gateway.call
    lost = {"done": False}

    def lose_the_prompts_answer(method: str, **args: Any) -> dict[str, Any]:
        answer = original(method, **args)
        if (
            method == "chat.postMessage"
            and "Stand-up" in str(args.get("text"))
            and not lost["done"]
        ):
            lost["done"] = True
            raise SlackRetryLater(method, "network: ConnectionResetError")
        return answer

    bot.bot.gateway.call = lose_the_prompts_answer  # type: ignore[method-assign]
    sweep(bot, clock, at("2027-03-25T09:30"))
    for minute in range(1, 6):
        clock.now = at("2027-03-25T09:30") + dt.timedelta(minutes=minute)
        bot.deliver()
    assert lost["done"]
    assert len(posts(bot.workspace, channel_of(bot, client))) == 1
    with bot.bot.db.transaction() as session:
        assert session.scalars(select(StandupPrompt.message_ts)).one() is not None


@pytest.mark.skipif(
    not os.environ.get("ONBOARD_TEST_DATABASE_URL"),
    reason="two schedulers share a PostgreSQL database: set ONBOARD_TEST_DATABASE_URL",
)
def test_two_schedulers_on_one_postgresql_database_post_each_prompt_once(
    start_bot: BotFactory, people: People, clock: FixedClock
) -> None:
    one, two = start_bot(clock=clock), start_bot(clock=clock)
    clients = [
        in_hypercare(
            one.bot.db,
            one.workspace,
            people.am.id,
            name=f"Client {n}",
            entered=at("2027-03-25T07:00"),
        )
        for n in range(12)
    ]
    for moment in (at("2027-03-25T08:00"), at("2027-03-25T09:30"), at("2027-03-25T11:30")):
        clock.now = moment
        start = threading.Barrier(4)
        threads = [
            threading.Thread(target=_run_at, args=(start, b, moment)) for b in (one, two, one, two)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        one.deliver()
        two.deliver()
    for client in clients:
        assert len(posts(one.workspace, channel_of(one, client))) == 1
    with one.bot.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(StandupPrompt)) == len(clients)
        prompted = select(func.count()).where(AuditEvent.action == "standup.prompted")
        assert session.scalar(prompted) == len(clients)
        started = select(func.count()).where(AuditEvent.action == "hypercare.started")
        assert session.scalar(started) == len(clients)
    reminded = [
        c for c in one.workspace.calls_to("chat.postMessage") if c.args["channel"] == people.am.id
    ]
    assert len(reminded) == len(clients)  # the AM, the one responder, reminded once per client


def test_stand_ups_fall_on_local_days_either_side_of_the_date_line(
    bot: Running, people: People, clock: FixedClock
) -> None:
    # Kiritimati is UTC+14, Pago Pago UTC−11: 25 hours apart, often on different dates.
    east = in_hypercare(
        bot.bot.db,
        bot.workspace,
        people.am.id,
        name="Line Islands",
        timezone="Pacific/Kiritimati",
        country="KI",
        entered=at("2027-03-23T18:00"),  # Wed 24 March, 08:00 local
    )
    west = in_hypercare(
        bot.bot.db,
        bot.workspace,
        people.am.id,
        name="Samoa",
        timezone="Pacific/Pago_Pago",
        country="AS",
        entered=at("2027-03-24T19:00"),  # Wed 24 March, 08:00 local
    )
    # Wed 24 March 09:30 in Kiritimati is Tuesday 19:30 UTC; Samoa's is Wednesday 20:30 UTC,
    # by when it is already Thursday morning in Kiritimati.
    assert sweep(bot, clock, at("2027-03-23T19:29")) == 2  # the two announcements, no prompt
    sweep(bot, clock, at("2027-03-23T19:30"))
    assert prompted(bot) == [f"standup:{east}:2027-03-24"]
    sweep(bot, clock, at("2027-03-24T19:30"))
    sweep(bot, clock, at("2027-03-24T20:29"))
    assert prompted(bot)[1:] == [f"standup:{east}:2027-03-25"]
    sweep(bot, clock, at("2027-03-24T20:30"))
    assert prompted(bot)[2:] == [f"standup:{west}:2027-03-24"]
    # Kiritimati keeps Good Friday and Easter Monday; American Samoa works Good Friday (its
    # Thursday stand-up fell between two sweeps and its day is over: recorded as missed).
    sweep(bot, clock, at("2027-03-25T19:30"))  # Friday 26 in Kiritimati: a holiday
    sweep(bot, clock, at("2027-03-26T20:30"))  # Friday 26, 09:30 in Samoa
    assert prompted(bot)[3:] == [f"standup:{west}:2027-03-26"]
    sweep(bot, clock, at("2027-03-27T20:30"))  # Saturday in Samoa, Sunday in Kiritimati
    sweep(bot, clock, at("2027-03-28T19:30"))  # Easter Monday in Kiritimati
    sweep(bot, clock, at("2027-03-29T19:30"))  # Tuesday 30 in Kiritimati
    assert prompted(bot)[4:] == [f"standup:{east}:2027-03-30"]
    with bot.bot.db.transaction() as session:
        missed = session.scalars(
            select(StandupPrompt.day).where(StandupPrompt.status == "missed")
        ).all()
    assert missed == [dt.date(2027, 3, 25)]


def prompted(onboard: Running) -> list[str]:
    """The keys of the prompts posted, in order (not their updates)."""
    return [k for k in outbox_keys(onboard) if k.startswith("standup:") and k.count(":") == 2]


def test_a_stand_up_time_inside_the_spring_gap_still_happens_that_day(
    bot: Running, people: People, clock: FixedClock
) -> None:
    # New York skips 02:00–03:00 on Sunday 14 March 2027; a 02:30 stand-up on a weekend-working
    # client is read as 03:30 EDT that day, not lost and not moved to Monday.
    client = in_hypercare(
        bot.bot.db,
        bot.workspace,
        people.am.id,
        timezone="America/New_York",
        country="IL",  # a Monday-to-Friday country would skip the Sunday; Israel works it
        entered=at("2027-03-13T12:00"),
    )
    bot.bot.standups.sweep(at("2027-03-13T12:00"))
    with bot.bot.db.transaction() as session:
        row = session.scalars(select(Hypercare).where(Hypercare.client_id == client)).one()
        row.standup_time = "02:30"
    assert sweep(bot, clock, at("2027-03-14T07:29")) == 0
    sweep(bot, clock, at("2027-03-14T07:30"))  # 03:30 EDT
    assert f"standup:{client}:2027-03-14" in outbox_keys(bot)


def test_a_paused_client_gets_no_prompt_and_resuming_before_the_cutoff_posts_it(
    bot: Running, people: People, clock: FixedClock
) -> None:
    client = in_hypercare(bot.bot.db, bot.workspace, people.am.id, entered=at("2027-03-25T07:00"))
    channel = channel_of(bot, client)
    sweep(bot, clock, at("2027-03-25T08:00"))
    bot.bot.standups.pause(channel, True, _cause(people))
    assert sweep(bot, clock, at("2027-03-25T09:30")) == 0
    sweep(bot, clock, at("2027-03-25T17:00"))
    assert posts(bot.workspace, channel) == []
    sweep(bot, clock, at("2027-03-29T08:30"))  # Monday (BST), still paused
    clock.now = at("2027-03-29T10:00")
    bot.bot.standups.pause(channel, False, _cause(people))
    sweep(bot, clock, at("2027-03-29T10:00"))
    assert len(posts(bot.workspace, channel)) == 1
    with bot.bot.db.transaction() as session:
        statuses = session.execute(
            select(StandupPrompt.day, StandupPrompt.kind, StandupPrompt.status).order_by(
                StandupPrompt.day, StandupPrompt.kind
            )
        ).all()
    assert [tuple(s) for s in statuses] == [
        (dt.date(2027, 3, 25), "daily", "paused"),
        (dt.date(2027, 3, 29), "daily", "open"),
        (dt.date(2027, 3, 29), "weekly", "posted"),  # Good Friday's review, moved to Monday
    ]


def test_a_closed_stand_up_refuses_answers_and_bad_answers_stay_in_the_modal(
    bot: Running, people: People, clock: FixedClock
) -> None:
    client = in_hypercare(bot.bot.db, bot.workspace, people.am.id, entered=at("2027-03-25T07:00"))
    sweep(bot, clock, at("2027-03-25T09:30"))
    with bot.bot.db.transaction() as session:
        prompt_id = session.scalars(select(StandupPrompt.id)).one()
    service = bot.bot.standups
    with pytest.raises(Exception, match="today") as bad:
        service.answer(
            prompt_id, {"yesterday": "x", "today": " ", "health": "purple"}, _cause(people)
        )
    assert set(bad.value.fields) == {"today", "health"}  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="another channel"):
        service.answer_form(prompt_id, "C0GENERAL", people.am.id)
    clock.now = at("2027-03-25T17:00")
    with pytest.raises(Exception, match="closed at 17:00"):
        service.answer(
            prompt_id, {"yesterday": "a", "today": "b", "health": "green"}, _cause(people)
        )
    with bot.bot.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(StandupAnswer)) == 0
    assert channel_of(bot, client)


def test_a_stand_up_slack_refuses_for_good_is_tried_once_and_the_account_manager_told(
    bot: Running, people: People, clock: FixedClock
) -> None:
    client = in_hypercare(bot.bot.db, bot.workspace, people.am.id, entered=at("2027-03-25T07:00"))
    sweep(bot, clock, at("2027-03-25T08:00"))
    bot.workspace.channels[channel_of(bot, client)].is_archived = True
    sweep(bot, clock, at("2027-03-25T09:30"))
    sweep(bot, clock, at("2027-03-25T09:35"))
    tries = [
        c
        for c in bot.workspace.calls_to("chat.postMessage")
        if c.args["channel"] == channel_of(bot, client)
    ]
    assert [c.error for c in tries if "Stand-up" in str(c.args.get("text"))] == ["is_archived"]
    told = [
        c.args["text"]
        for c in bot.workspace.calls_to("chat.postMessage")
        if c.args["channel"] == people.am.id
    ]
    assert len(told) == 1 and "is_archived" in told[0]


def test_the_journey_going_back_stops_hypercare_and_coming_back_restarts_it(
    bot: Running, people: People, clock: FixedClock
) -> None:
    client = in_hypercare(bot.bot.db, bot.workspace, people.am.id, entered=at("2027-03-25T07:00"))
    channel = channel_of(bot, client)
    sweep(bot, clock, at("2027-03-25T08:00"))
    clock.now = at("2027-03-25T08:10")
    bot.bot.journey.back("", channel, "deployment", "rollback", _cause(people))
    sweep(bot, clock, at("2027-03-25T09:30"))
    assert posts(bot.workspace, channel) == []
    clock.now = at("2027-03-29T07:00")
    bot.bot.journey.advance("", channel, _cause(people, admin=True), force="redeployed")
    sweep(bot, clock, at("2027-03-29T08:30"))
    assert len(posts(bot.workspace, channel)) == 1
    with bot.bot.db.transaction() as session:
        actions = list(session.scalars(select(AuditEvent.action)))
    assert actions.count("hypercare.started") == 1
    assert "hypercare.left" in actions and actions.count("hypercare.restarted") == 1


def test_the_pacer_spaces_posts_to_one_channel_and_honours_retry_after() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(clock=lambda: now[0], sleep=sleep)
    pacer.wait("chat.postMessage", "C1")
    pacer.wait("chat.postMessage", "C2")  # another channel goes at once
    with pytest.raises(SlackRetryLater) as spaced:  # the same channel goes back to the outbox
        pacer.wait("chat.postMessage", "C1")
    assert spaced.value.retry_after == pytest.approx(1.0)
    now[0] += 1.0
    pacer.wait("chat.postMessage", "C1")
    pacer.limited("chat.postMessage", 1.5)  # Slack said 429: the next post waits it out
    pacer.wait("chat.postMessage", "C3")
    assert slept == [1.5]
    pacer.limited("chat.postMessage", 30)  # a long hold goes back to the outbox instead
    with pytest.raises(SlackRetryLater) as held:
        pacer.wait("chat.postMessage", "C4")
    assert held.value.retry_after == pytest.approx(30)
    pacer.wait("chat.update", "C1")  # other methods are not held
    assert slept == [1.5]


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (dt.date(2027, 1, 31), 1, dt.date(2027, 2, 28)),
        (dt.date(2028, 1, 31), 1, dt.date(2028, 2, 29)),
        (dt.date(2027, 11, 30), 3, dt.date(2028, 2, 29)),
        (dt.date(2027, 4, 12), 12, dt.date(2028, 4, 12)),
    ],
)
def test_review_months_clamp_to_the_month_end(
    start: dt.date, months: int, expected: dt.date
) -> None:
    assert add_months(start, months) == expected


def _run_at(start: threading.Barrier, onboard: Running, moment: dt.datetime) -> None:
    """One scheduler's sweep, released together with the others'."""
    start.wait()
    JOBS["standups"].run(onboard.bot, moment)


def _cause(people: People, *, admin: bool = False) -> Any:
    from onboard.storage.audit import Cause

    return Cause(actor=people.admin.id if admin else people.am.id)


def test_clients_on_one_playbook_share_one_reading_of_its_hypercare() -> None:
    # The sweep keeps each client's reading for the life of the process: a thousand clients
    # on one playbook must cost a thousand keys, not a thousand copies of its rules.
    cares = Cares(Database("sqlite://"))
    created = at("2026-11-23T09:00:00")
    clients = [Client(id=n, created_at=created, playbook=MANAGED) for n in range(1, 4)]
    changed = {**MANAGED, "stages": [dict(stage) for stage in MANAGED["stages"]]}
    hypercare = next(s for s in changed["stages"] if (s.get("automation") or {}).get("hypercare"))
    hypercare["name"] = "Aftercare"
    other = Client(id=4, created_at=created, playbook=changed)

    readings = [cares.of(client) for client in clients]

    assert readings[0] is not None
    assert readings[0] is readings[1] is readings[2]
    assert cares.of(other) is not readings[0]
    assert cares.of(other).stage_name == "Aftercare"  # type: ignore[union-attr]


def test_a_process_keeps_the_readings_of_its_most_recent_clients_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Clients finish and new ones come: a long-running process must not keep every reading
    # it ever made. Past its bound the least recently used goes, and is read again if needed.
    monkeypatch.setattr(care, "CLIENTS_KEPT", 2)
    cares = Cares(Database("sqlite://"))
    created = at("2026-11-23T09:00:00")
    changed = {**MANAGED, "stages": [dict(stage) for stage in MANAGED["stages"]]}
    hypercare = next(s for s in changed["stages"] if (s.get("automation") or {}).get("hypercare"))
    hypercare["name"] = "Aftercare"

    first = cares.of(Client(id=1, created_at=created, playbook=MANAGED))
    cares.of(Client(id=2, created_at=created, playbook=MANAGED))
    assert cares.of(Client(id=1, created_at=created, playbook=changed)) is first  # kept
    cares.of(Client(id=3, created_at=created, playbook=MANAGED))  # client 2 goes
    cares.of(Client(id=4, created_at=created, playbook=MANAGED))  # then client 1
    again = cares.of(Client(id=1, created_at=created, playbook=changed))

    assert first is not None and first.stage_name != "Aftercare"
    assert again is not None and again.stage_name == "Aftercare"  # read anew


def test_the_survey_opens_in_each_stage_whose_hypercare_has_a_satisfaction_gate() -> None:
    # Stand-ups run in the first stage with hypercare automation; a playbook may give another
    # stage hypercare too, and the survey sweep visits clients in any whose hypercare has a gate.
    stages = [dict(stage) for stage in MANAGED["stages"]]
    index, gated = next(
        (i, s) for i, s in enumerate(stages) if (s.get("automation") or {}).get("hypercare")
    )
    rules = {k: v for k, v in gated["automation"]["hypercare"].items() if k != "satisfaction_gate"}
    earlier = stages[index - 1]  # gains hypercare, without a satisfaction gate
    earlier["automation"] = {**(earlier.get("automation") or {}), "hypercare": rules}
    cares = Cares(Database("sqlite://"))
    created = at("2026-11-23T09:00:00")

    care = cares.of(Client(id=1, created_at=created, playbook={**MANAGED, "stages": stages}))
    plain = cares.of(Client(id=2, created_at=created, playbook=MANAGED))

    assert care is not None and plain is not None
    assert care.stage_key == earlier["key"] != gated["key"]
    assert care.surveyed == {gated["key"]}
    assert plain.surveyed == {gated["key"]} and plain.stage_key == gated["key"]


def test_a_client_without_a_hypercare_stage_has_its_monthly_bau_reviews_once_it_completes(
    bot: Running, people: People, clock: FixedClock
) -> None:
    # Digital launch has no hypercare stage, but its playbook reviews every tier monthly: the
    # team names the service delivery manager ahead, and BAU starts when the journey completes.
    client = at_the_last_stage(bot, people.am.id, "digital-launch", entered=at("2027-03-22T09:00"))
    channel = channel_of(bot, client)
    named = command(bot, people.am.id, f"sdm <@{people.admin.id}|ada>", channel)
    assert "is Acme's service delivery manager" in named, named
    assert sweep(bot, clock, at("2027-03-25T08:00")) == 0  # not completed: nothing yet

    clock.now = at("2027-03-25T10:00")
    bot.bot.journey.advance("", channel, _cause(people, admin=True), force="live, optimising")
    assert sweep(bot, clock, at("2027-03-25T10:05")) == 1
    assert sweep(bot, clock, at("2027-03-25T10:06")) == 0  # once
    [bau] = [m for m in bot.workspace.messages_in(channel) if "business-as-usual" in m.text]
    assert "Hypercare" not in str(bau.blocks)
    assert "monthly" in str(bau.blocks) and "Mon 26 April 2027" in str(bau.blocks)
    assert posts(bot.workspace, channel) == []  # and never a stand-up

    status = command(bot, people.am.id, "sdm", channel)
    assert "Service reviews of Acme" in status and "next on Mon 26 Apr 2027" in status, status

    clock.now = at("2027-04-26T12:00")  # 25 April is a Sunday: the review rolls to Monday
    assert JOBS["service-reviews"].run(bot.bot, clock.now) == 1
    bot.deliver()
    assert [t for t in dms(bot, people.admin.id) if "Service review due" in t] == [
        "Service review due on Mon 26 April: Acme (monthly)"
    ]


def test_only_someone_on_the_team_can_be_the_service_delivery_manager(
    bot: Running, people: People, clock: FixedClock
) -> None:
    # The BAU review reminders are internal: Carla (the client's own user, over Slack Connect)
    # and a guest are refused, and the reminders stay with the account manager.
    client = in_hypercare(bot.bot.db, bot.workspace, people.am.id, entered=at("2027-03-25T07:00"))
    channel = channel_of(bot, client)
    for outsider in (people.client.id, people.guest.id):
        refused = command(bot, people.am.id, f"sdm <@{outsider}|them>", channel)
        assert "is not on the onboarding team" in refused, refused
        assert "is Acme's service delivery manager" not in refused
    with bot.bot.db.transaction() as session:
        assert session.scalars(select(Hypercare.sdm)).all() in ([], [None])
    named = command(bot, people.am.id, f"sdm <@{people.engineer.id}|eric>", channel)
    assert "is Acme's service delivery manager" in named, named
    with bot.bot.db.transaction() as session:
        assert session.scalars(select(Hypercare.sdm)).all() == [people.engineer.id]
