"""Managers get a short, right digest on Monday morning in their own timezone, once a week."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from onboard.bot import erasure, weekly
from onboard.bot.digest import Digest, Risk
from onboard.bot.onboarding import MAX_NAME
from onboard.messages.render import RenderError, render_message
from onboard.storage.audit import Cause
from onboard.storage.models import Client, Deliverable, DeliverableVersion, OutboxMessage, Task
from tests.conftest import BotFactory, FixedClock, People, Running
from tests.handlers.test_new_client import good_form

START = dt.datetime(2026, 8, 3, 9, 0, tzinfo=dt.UTC)  # a Monday


def new_client(onboard: Running, people: People, name: str, **changes: Any) -> None:
    onboard.bot.onboarding.submit(
        good_form(**{"name": name, "go_live": "2027-06-01", **changes}),
        Cause(people.am.id, "T0HOME"),
    )


def advance(onboard: Running, people: People, name: str, times: int = 1) -> None:
    for _ in range(times):
        onboard.bot.journey.advance(name, None, Cause(people.admin.id), force="moving on")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def portfolio(start_bot: BotFactory, people: People, clock: FixedClock) -> Running:
    onboard = start_bot(clock=clock, managers=(people.admin.id,))
    new_client(onboard, people, "Old Co")
    clock.now = START + dt.timedelta(days=30)
    advance(onboard, people, "Old Co", 7)  # completed in 30 days
    clock.now = START + dt.timedelta(days=95)
    new_client(onboard, people, "Acme")
    new_client(onboard, people, "Beta")
    clock.now = START + dt.timedelta(days=103)
    advance(onboard, people, "Beta", 5)  # into hypercare this week
    new_client(onboard, people, "Gamma")
    onboard.deliver()
    clock.now = START + dt.timedelta(days=105)  # Monday 16 November
    return onboard


def test_the_digest_tells_the_weeks_story(portfolio: Running) -> None:
    digest = portfolio.bot.digest.build(portfolio.bot.clock())
    stages = {name: (count, change) for name, count, change in digest.stages}
    assert stages["Sales Handoff & Kickoff"] == (2, 0)  # Beta moved on, Gamma arrived
    assert stages["Go-Live & Hypercare"] == (1, 1)
    assert stages["Completed"] == (1, 0)
    assert digest.started == ["Gamma"]
    assert digest.went_live == ["Beta"]
    risky = {r.client: r.reasons for r in digest.risks}
    assert "Acme" in risky and any("overdue" in reason for reason in risky["Acme"])
    assert "Gamma" not in risky  # started on Saturday: its first tasks are due today
    assert "Old Co" not in risky  # completed, even though its channel came late
    assert digest.kpis["Time to onboard"].startswith("median 30 days")
    assert (
        digest.kpis["Hypercare exit"]
        == "1 of 1 left hypercare with every exit criterion met (1 forced)"[0:0]
        or "forced" in digest.kpis["Hypercare exit"]
    )


def test_each_manager_gets_it_at_eight_on_monday_in_their_timezone_once(
    start_bot: BotFactory, people: People, workspace: Any, clock: FixedClock
) -> None:
    new_york = workspace.add_user("nina.ny", tz="America/New_York")
    sydney = workspace.add_user("sid.syd", tz="Australia/Sydney")
    onboard = start_bot(clock=clock, managers=(new_york.id, sydney.id))
    sweep = onboard.bot.digest.sweep

    def sent_to(user: str) -> int:
        return len(
            [c for c in workspace.calls_to("chat.postMessage") if c.args.get("channel") == user]
        )

    # Sunday 20:59 UTC is Monday 07:59 in Sydney (AEDT, UTC+11).
    assert sweep(dt.datetime(2026, 11, 22, 20, 59, tzinfo=dt.UTC)) == 0
    assert sweep(dt.datetime(2026, 11, 22, 21, 0, tzinfo=dt.UTC)) == 1
    # 13:00 UTC is 08:00 in New York (EST, UTC−5); Sydney's is not sent again.
    assert sweep(dt.datetime(2026, 11, 23, 12, 59, tzinfo=dt.UTC)) == 0
    assert sweep(dt.datetime(2026, 11, 23, 13, 0, tzinfo=dt.UTC)) == 1
    assert sweep(dt.datetime(2026, 11, 23, 18, 0, tzinfo=dt.UTC)) == 0
    clock.now = dt.datetime(2026, 11, 23, 18, 0, tzinfo=dt.UTC)
    onboard.deliver()
    assert sent_to(new_york.id) == 1 and sent_to(sydney.id) == 1
    uploads = workspace.calls_to("files.completeUploadExternal")
    assert len(uploads) == 2


def test_a_failed_chart_upload_leaves_the_text_digest(
    start_bot: BotFactory, people: People, workspace: Any, clock: FixedClock
) -> None:
    onboard = start_bot(clock=clock, managers=(people.admin.id,))
    workspace.inject("files.getUploadURLExternal", error="not_allowed_token_type", times=None)
    clock.now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    assert onboard.bot.digest.sweep(clock.now) == 1
    onboard.deliver()
    texts = [
        c.args["text"]
        for c in workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == people.admin.id
    ]
    assert len(texts) == 1 and texts[0].startswith("Weekly onboarding digest")
    with onboard.bot.db.transaction() as session:
        chart = session.scalars(
            select(OutboxMessage).where(OutboxMessage.operation == "digest.chart")
        ).one()
    assert chart.status == "failed"


def test_a_chart_whose_sharing_answer_was_lost_is_shared_once(
    start_bot: BotFactory, people: People, workspace: Any, clock: FixedClock
) -> None:
    # Slack shared the chart, then the connection dropped before its answer: the retry finds
    # it in the manager's DM rather than sharing a second copy (files have no idempotency key).
    onboard = start_bot(clock=clock, managers=(people.admin.id,))
    clock.now = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    assert onboard.bot.digest.sweep(clock.now) == 1
    workspace.inject("files.completeUploadExternal", lose_answer=True, times=1)
    onboard.deliver()
    clock.now += dt.timedelta(minutes=30)  # past the retry's backoff
    onboard.deliver()
    dm = workspace._dms[people.admin.id]
    assert len([m for m in workspace.messages_in(dm) if m.files]) == 1
    with onboard.bot.db.transaction() as session:
        chart = session.scalars(
            select(OutboxMessage).where(OutboxMessage.operation == "digest.chart")
        ).one()
    assert (chart.status, chart.result["already"]) == ("sent", True)


def test_an_empty_portfolio_and_a_manager_without_timezone_render_sensibly(
    start_bot: BotFactory, clock: FixedClock
) -> None:
    onboard = start_bot(clock=clock)
    digest = onboard.bot.digest.build(START)
    message = onboard.bot.digest.message(digest, None)
    text = str(message["blocks"])
    assert "No clients yet." in text and "follows UTC" in text


def test_five_hundred_clients_fit_slacks_block_limits(
    start_bot: BotFactory, people: People, clock: FixedClock
) -> None:
    onboard = start_bot(clock=clock)
    for n in range(500):
        new_client(onboard, people, f"Client {n:03d} " + "&" * 40)
    clock.now = START + dt.timedelta(days=20)
    digest = onboard.bot.digest.build(clock.now)
    message = onboard.bot.digest.message(digest, "Europe/London")
    assert len(message["blocks"]) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in message["blocks"])
    assert f"…and {digest.risks_more} more at risk" in str(message["blocks"])
    assert digest.risks_more == 500 - 15
    render_message("digest", d=digest, local_date=START.date(), no_timezone=False)


def test_a_manager_slack_does_not_know_holds_back_no_one(
    start_bot: BotFactory, workspace: Any, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    new_york = workspace.add_user("nina.ny", tz="America/New_York")
    # A typo in ONBOARD_MANAGERS, listed first: it is logged, and Nina still gets hers.
    onboard = start_bot(clock=clock, managers=("U0NOSUCH1", new_york.id))

    with pytest.raises(RuntimeError, match="failed for 1 of its visits"):
        onboard.bot.digest.sweep(dt.datetime(2026, 11, 23, 13, 0, tzinfo=dt.UTC))
    assert "manager U0NOSUCH1" in caplog.text
    onboard.deliver()
    assert [c.args["channel"] for c in workspace.calls_to("chat.postMessage")] == [new_york.id]


def test_a_digest_the_bot_was_down_for_goes_out_when_it_is_back_until_wednesday(
    start_bot: BotFactory, workspace: Any, clock: FixedClock
) -> None:
    new_york = workspace.add_user("nina.ny", tz="America/New_York")
    onboard = start_bot(clock=clock, managers=(new_york.id,))
    sweep = onboard.bot.digest.sweep

    # Down all Monday 23 November in New York; back on Tuesday at 09:00 (14:00 UTC).
    assert sweep(dt.datetime(2026, 11, 24, 14, 0, tzinfo=dt.UTC)) == 1
    assert sweep(dt.datetime(2026, 11, 25, 14, 0, tzinfo=dt.UTC)) == 0  # once a week
    # The next week, down until Thursday: that week's is skipped, the next Monday's comes.
    assert sweep(dt.datetime(2026, 12, 3, 14, 0, tzinfo=dt.UTC)) == 0
    assert sweep(dt.datetime(2026, 12, 7, 13, 0, tzinfo=dt.UTC)) == 1


def test_overdue_tasks_count_the_same_whatever_offset_the_moment_is_written_in(
    start_bot: BotFactory, people: People, clock: FixedClock
) -> None:
    onboard = start_bot(clock=clock)
    new_client(onboard, people, "Kiri Co", timezone="Pacific/Kiritimati", country="KI")
    with onboard.bot.db.transaction() as session:
        session.execute(update(Task).values(due=dt.date(2026, 11, 24)))
    # 10:30 UTC on Tuesday 24 November is already Wednesday 00:30 in Kiritimati (UTC+14):
    # its tasks due on the 24th are overdue, also with the moment typed at UTC−11.
    utc = dt.datetime(2026, 11, 24, 10, 30, tzinfo=dt.UTC)
    pago_pago = utc.astimezone(dt.timezone(dt.timedelta(hours=-11)))  # 23 Nov, 23:30
    reasons = [[r.reasons for r in onboard.bot.digest.build(at).risks] for at in (utc, pago_pago)]
    assert reasons[0] == reasons[1]
    assert any("overdue" in reason for risk in reasons[0] for reason in risk)


def acme_and_globex_start_then_monday_comes(
    start_bot: BotFactory, people: People, clock: FixedClock
) -> tuple[Running, Client]:
    """This week Acme and Globex started; Monday morning the digest naming them is queued, and
    Slack is slow, so it waits. The bot, and Acme."""
    onboard = start_bot(clock=clock, managers=(people.admin.id,))
    clock.now = START + dt.timedelta(days=1)  # Tuesday
    new_client(onboard, people, "Acme Rockets")  # Carla Client, carla@acme.example
    new_client(
        onboard, people, "Globex", contact_name="Gina Globex", contact_email="gina@globex.example"
    )
    onboard.deliver()
    clock.now = START + dt.timedelta(days=7)
    assert onboard.bot.digest.sweep(clock.now) == 1
    with onboard.bot.db.transaction() as session:
        queued = session.scalars(select(OutboxMessage).where(OutboxMessage.key.like("digest:%")))
        assert "Acme Rockets" in json.dumps([row.payload for row in queued])
        acme = session.scalars(select(Client).where(Client.name == "Acme Rockets")).one()
    return onboard, acme


def digests_to(workspace: Any, manager: str) -> list[str]:
    return [
        json.dumps(c.args)
        for c in workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == manager
    ]


def test_a_digest_queued_before_a_client_is_erased_goes_out_without_that_client(
    start_bot: BotFactory, people: People, workspace: Any, clock: FixedClock
) -> None:
    onboard, acme = acme_and_globex_start_then_monday_comes(start_bot, people, clock)

    erasure.erase(onboard.bot.db, acme.slug, Cause("U0DPO"), reason="request", now=clock.now)
    onboard.deliver()

    sent = digests_to(workspace, people.admin.id)
    assert len(sent) == 1  # the manager still gets this week's
    assert "Weekly onboarding digest" in sent[0] and "Globex" in sent[0]
    for personal in ("Acme Rockets", "Carla Client", "carla@acme.example"):
        assert personal not in sent[0]
    assert f"erased client {acme.id}" in sent[0]  # still counted among the week's starts
    # Its key is unchanged: the next sweep does not send this week's again.
    assert onboard.bot.digest.sweep(clock.now + dt.timedelta(hours=1)) == 0
    onboard.deliver()
    assert len(digests_to(workspace, people.admin.id)) == 1


def test_a_digest_queued_by_an_older_version_is_given_up_rather_than_sent_naming_them(
    start_bot: BotFactory, people: People, workspace: Any, clock: FixedClock
) -> None:
    onboard, acme = acme_and_globex_start_then_monday_comes(start_bot, people, clock)
    with onboard.bot.db.transaction() as session:
        row = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.key.like("digest:%"), OutboxMessage.operation == "slack.call"
            )
        ).one()
        # Queued before digests kept what they were built from: it cannot be rendered again.
        row.payload = {k: v for k, v in row.payload.items() if k != "digest"}

    erasure.erase(onboard.bot.db, acme.slug, Cause("U0DPO"), reason="request", now=clock.now)
    onboard.deliver()

    assert digests_to(workspace, people.admin.id) == []
    with onboard.bot.db.transaction() as session:
        row = session.get_one(OutboxMessage, row.id)
        assert (row.status, row.last_error, row.payload) == ("failed", "erased", {"erased": True})


# -- what a manager can read, whatever the portfolio ------------------------------------------

MONDAY_AFTER = dt.datetime(2026, 8, 24, 9, 0, tzinfo=dt.UTC)  # three weeks after START


def hostile_name(n: int) -> str:
    """A name at the form's maximum, numbered up front, lengthened by escaping at every turn."""
    return (f"{n:02d} <!channel> " + "&<>" * MAX_NAME)[:MAX_NAME]


def sent_blocks(workspace: Any, manager: str) -> list[dict[str, Any]]:
    [digest] = [
        c.args for c in workspace.calls_to("chat.postMessage") if c.args.get("channel") == manager
    ]
    return digest["blocks"]


def at_risk_text(blocks: list[dict[str, Any]]) -> str:
    """The 'At risk' lines, from however many sections they take."""
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    first = next(i for i, t in enumerate(texts) if t.startswith("*At risk*"))
    end = next(i for i, t in enumerate(texts) if t.startswith("*Decisions this week*"))
    return "\n".join(texts[first:end])


def test_seventeen_clients_at_risk_with_the_longest_names_and_reasons_still_reach_the_manager(
    start_bot: BotFactory, people: People, workspace: Any, clock: FixedClock
) -> None:
    onboard = start_bot(clock=clock, managers=(people.admin.id,))
    for n in range(17):
        new_client(onboard, people, hostile_name(n))
    onboard.deliver()
    title = ("Brand & <guidelines> " * 10)[:150]  # as long as a deliverable's title may be
    with onboard.bot.db.transaction() as session:
        for client in session.scalars(select(Client)):
            for _ in range(2):
                deliverable = Deliverable(
                    client_id=client.id,
                    title=title,
                    gate_key=None,
                    rule="all",
                    required=1,
                    created_by=people.am.id,
                    created_at=START,
                )
                session.add(deliverable)
                session.flush()
                session.add(
                    DeliverableVersion(
                        deliverable_id=deliverable.id,
                        number=1,
                        title=title,
                        rule="all",
                        approvers=[people.client.id],
                        status="pending",
                        posted_at=START,
                    )
                )
        # The team did its part; what waits are the clients' sign-offs.
        session.execute(update(Task).values(done_at=START, done_by=people.am.id))
    # Three weeks on, each is late in its stage and has two long sign-offs waiting.
    clock.now = MONDAY_AFTER
    assert onboard.bot.digest.sweep(MONDAY_AFTER) == 1
    onboard.deliver()

    blocks = sent_blocks(workspace, people.admin.id)
    assert len(blocks) <= 50
    for block in blocks:
        assert len(block.get("text", {}).get("text", "")) <= 3000
    risks = at_risk_text(blocks)
    lines = risks.splitlines()
    assert lines[0] == "*At risk*" and lines[-1] == "…and 2 more at risk"
    assert len(lines) == 1 + 15 + 1
    for n, line in enumerate(lines[1:-1]):
        assert line.startswith(f":large_orange_circle: *{n:02d} &lt;!channel&gt; &amp;&lt;&gt;")
        assert re.search(
            r"\): .+ running \d+ of \d+ days; sign-off “Brand .+; sign-off “Brand .+…$", line
        )
    assert "<!channel>" not in json.dumps(blocks)


def test_a_manager_outside_the_clients_channel_reads_which_client_is_at_risk(
    start_bot: BotFactory, people: People, workspace: Any, clock: FixedClock
) -> None:
    manager = workspace.add_user("mona.manager", tz="Europe/London")
    onboard = start_bot(clock=clock, managers=(manager.id,))
    new_client(onboard, people, "Acme & Rockets")
    onboard.deliver()
    with onboard.bot.db.transaction() as session:
        channel = session.scalars(select(Client.channel_id)).one()
    # Private, and the manager is not in it: Slack shows its link to them as "private channel".
    assert workspace.channels[channel].is_private
    assert manager.id not in workspace.channels[channel].members

    clock.now = MONDAY_AFTER
    assert onboard.bot.digest.sweep(MONDAY_AFTER) == 1
    onboard.deliver()

    risks = at_risk_text(sent_blocks(workspace, manager.id))
    assert f":large_orange_circle: *Acme &amp; Rockets* (<#{channel}>): " in risks


def test_every_section_fits_slack_whatever_the_names_and_however_many() -> None:
    name = ("&<>" * MAX_NAME)[:MAX_NAME]
    names = [name] * 500
    digest = Digest(
        as_of=START,
        week_start=START - dt.timedelta(days=7),
        stages=[(("Stage & <b> " * 20)[:100] + f"{n}", 999_999, -999_999) for n in range(40)],
        started=names,
        went_live=names,
        completed=names,
        risks=[Risk(name, "C" + "9" * 31, ["&" * 150] * 4) for _ in range(15)],
        risks_more=99_985,
        approved=999_999,
        changes_requested=999_999,
        kpis={kpi: "&" * 500 for kpi in ("Time to onboard", "Retention", "Hypercare exit")},
        total=999_999,
    )
    message = render_message("digest", d=digest, local_date=START.date(), no_timezone=True)
    blocks = message["blocks"]
    assert len(blocks) <= 50
    for block in blocks:
        assert len(block.get("text", {}).get("text", "")) <= 3000
    risks = at_risk_text(blocks)
    assert risks.count(":large_orange_circle:") == 15
    assert risks.endswith("…and 99985 more at risk")
    text = json.dumps(blocks, ensure_ascii=False)
    assert "…and 15 more stages" in text
    assert ":seedling: Started: &amp;&lt;&gt;&amp;" in text and "&amp;amp;" not in text
    assert " and 492 more\\n:rocket: Gone live: " in text


def test_names_full_of_quotes_and_backslashes_shorten_the_digest_rather_than_stop_it() -> None:
    # Slack measures a message by its JSON, where `"` and `\\` take two characters each:
    # clients and titles full of them make the fullest listing too long for Slack. The
    # manager still gets the digest, listing fewer of them and counting the rest.
    name = ('"\\' * MAX_NAME)[:MAX_NAME]
    reason = "sign-off “" + '"\\' * 75 + "” waiting 3 business days"
    names = [name] * 500
    digest = Digest(
        as_of=START,
        week_start=START - dt.timedelta(days=7),
        stages=[(name[:99] + str(n), 3, 1) for n in range(30)],
        started=names,
        went_live=names,
        completed=names,
        risks=[Risk(name, "C0123456789", [reason] * 3) for _ in range(15)],
        risks_more=20,
        approved=3,
        changes_requested=1,
        kpis={"Time to onboard": "median 30 days (3 completed)"},
        total=100,
    )
    with pytest.raises(RenderError, match="msg_blocks_too_long"):
        render_message("digest", d=digest, local_date=START.date(), no_timezone=False)

    blocks = weekly.render(digest, "Europe/London")["blocks"]

    assert len(json.dumps(blocks, separators=(",", ":"), ensure_ascii=False)) <= 12_000
    risks = at_risk_text(blocks)
    shown = risks.count(":large_orange_circle:")
    assert 1 <= shown < 15
    assert risks.endswith(f"…and {15 + 20 - shown} more at risk")
    this_week = next(b["text"]["text"] for b in blocks if "*This week*" in str(b))
    assert re.search(r"Started: .+ and \d+ more\n", this_week)
    assert "*Portfolio by stage* (100 clients)" in str(blocks)


def retention(onboard: Running) -> str:
    return onboard.bot.digest.build(onboard.bot.clock() + dt.timedelta(hours=1)).kpis["Retention"]


def test_a_client_reopened_after_completing_counts_against_retention(
    portfolio: Running, people: People, clock: FixedClock
) -> None:
    # Old Co completed in September; Acme and Beta complete now.
    advance(portfolio, people, "Acme", 7)
    advance(portfolio, people, "Beta", 2)
    assert retention(portfolio).startswith("100% of the 3 clients")
    # The next day Beta's team changes and its onboarding is reopened.
    clock.now += dt.timedelta(days=1)
    portfolio.bot.journey.back(
        "Beta", None, "sales-handoff", "the client's team changed", Cause(people.admin.id)
    )
    assert retention(portfolio) == (
        "67% of the 3 clients onboarded in the last year stayed completed (1 reopened)"
    )
    # Completing again does not undo that its first completion did not hold.
    advance(portfolio, people, "Beta", 7)
    assert retention(portfolio).startswith("67% of the 3 clients")


LAST_STAGE_HYPERCARE = """
key: golive
name: Go-live journey
stages:
  - key: kickoff
    name: Kickoff
    objective: Meet the client.
    owner: Account Manager
    duration_days: {min: 1, max: 2}
    gates:
      - {key: kickoff-held, name: Kickoff held, kind: condition}
  - key: hypercare
    name: Go-Live & Hypercare
    objective: Look after the client after go-live.
    owner: Account Manager
    calendar_days: 14
    duration_days: {min: 8, max: 10}
    automation:
      hypercare:
        days: 14
        standup_time: "09:30"
        standup_business_days: 3
        exit_criteria: [stable]
    gates:
      - {key: stable, name: Stable, kind: condition}
"""


def test_leaving_hypercare_as_the_journeys_last_stage_counts_as_a_hypercare_exit(
    start_bot: BotFactory, tmp_path: Path, people: People, clock: FixedClock
) -> None:
    # A playbook whose last stage is hypercare: leaving it completes the journey.
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "golive.yaml").write_text(LAST_STAGE_HYPERCARE)
    onboard = start_bot(clock=clock, playbook_dir=folder, managers=(people.admin.id,))
    new_client(onboard, people, "Acme", playbook="golive")
    clock.now = START + dt.timedelta(days=2)
    advance(onboard, people, "Acme")  # into hypercare
    clock.now = START + dt.timedelta(days=16)
    advance(onboard, people, "Acme")  # out of hypercare: completed

    digest = onboard.bot.digest.build(START + dt.timedelta(days=17))
    assert digest.kpis["Hypercare exit"] == (
        "0 of 1 left hypercare with every exit criterion met (1 forced)"
    )


def test_a_client_past_its_target_go_live_is_at_risk_and_the_kpi_counts_who_went_live_on_time(
    start_bot: BotFactory, people: People, clock: FixedClock
) -> None:
    # Three clients start on Monday 3 August (Managed Services: live in its sixth stage).
    # Acme promised Friday 7 August and is still in design; Beta went live on Monday 10, on
    # its target of Friday 14; Gamma promised Friday 7 and went live on Wednesday 12.
    onboard = start_bot(clock=clock, managers=(people.admin.id,))
    new_client(onboard, people, "Acme", go_live="2026-08-07")
    new_client(onboard, people, "Beta", go_live="2026-08-14")
    new_client(onboard, people, "Gamma", go_live="2026-08-07")
    onboard.deliver()
    clock.now = START + dt.timedelta(days=3)
    advance(onboard, people, "Acme", 2)  # into Solution Design
    clock.now = START + dt.timedelta(days=7)
    advance(onboard, people, "Beta", 5)  # into Go-Live & Hypercare
    clock.now = START + dt.timedelta(days=9)
    advance(onboard, people, "Gamma", 5)
    with onboard.bot.db.transaction() as session:  # the team is on top of its tasks
        session.execute(update(Task).values(done_at=clock.now, done_by=people.am.id))

    digest = onboard.bot.digest.build(START + dt.timedelta(days=10))  # Thursday 13 August

    assert {r.client: r.reasons for r in digest.risks} == {
        "Acme": ["go-live was 7 Aug 2026; not live yet"]
    }
    assert digest.kpis["On-time go-live"] == (
        "1 of 2 went live by the target date (the clients gone live in the last 91 days)"
    )
    # A quarter on, those go-lives are out of the KPI's 91 days; Acme is still at risk.
    later = onboard.bot.digest.build(START + dt.timedelta(days=102))
    assert later.kpis["On-time go-live"] == "no client went live in the last 91 days"
    assert (
        "go-live was 7 Aug 2026; not live yet" in {r.client: r.reasons for r in later.risks}["Acme"]
    )
