"""Where a client stands: a stage runs late from the business day after its planned end, and
the journey reads 100% only once it is complete."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from onboard.bot.digest import build
from tests.conftest import BotFactory, FixedClock, People
from tests.handlers.test_journey import TINY, card, say
from tests.handlers.test_new_client import onboard_client

MONDAY = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def test_a_stage_of_one_to_two_days_entered_monday_runs_late_on_wednesday(
    start_bot: BotFactory, people: People, tmp_path: Path
) -> None:
    # `onboard playbook plan` ends such a stage on Tuesday; the status must agree.
    clock = FixedClock(MONDAY)
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY)
    onboard = start_bot(clock=clock, playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny")  # Kickoff: 1–2 business days

    assert "day 1 of 1–2 business days" in say(onboard, people.am.id, "status")
    clock.now = MONDAY + dt.timedelta(days=1)
    tuesday = say(onboard, people.am.id, "status")
    assert "day 2 of 1–2 business days" in tuesday and "running late" not in tuesday
    clock.now = MONDAY + dt.timedelta(days=2)
    assert "day 3 of 1–2 business days :warning: running late" in say(
        onboard, people.am.id, "status"
    )
    for day, late in ((1, []), (2, ["Kickoff running 3 of 2 days"])):  # the digest agrees
        with onboard.bot.db.transaction() as session:
            digest = build(session, MONDAY + dt.timedelta(days=day, hours=1))
        reasons = [reason for risk in digest.risks for reason in risk.reasons]
        assert [reason for reason in reasons if "running" in reason] == late


def test_the_card_reads_100_percent_only_once_the_journey_is_complete(
    start_bot: BotFactory, people: People, tmp_path: Path
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY)
    tiny = start_bot(playbook_dir=folder)
    onboard_client(tiny, people, playbook="tiny")
    am = people.am.id
    # Kickoff, the first of three stages, has three steps: two tasks and its gate.
    say(tiny, am, "task done 1")
    say(tiny, am, "task done 2")
    assert "` 22% · stage 1 of 3" in card(tiny)  # its gate still open: not a whole stage
    say(tiny, am, "gate kickoff-held pass")
    assert "` 33% · stage 1 of 3" in card(tiny)
    say(tiny, people.admin.id, "advance --force skip the build")
    say(tiny, people.admin.id, "advance --force skip the build")
    # Handover has no tasks, only its gate, still open: nothing of it is done.
    assert "` 67% · stage 3 of 3" in card(tiny)
    assert "no tasks in this stage" in say(tiny, am, "status")
    say(tiny, am, "gate handed-over pass")
    shown = card(tiny)
    assert "` 99% · stage 3 of 3" in shown and "100%" not in shown  # waits for `advance`
    say(tiny, am, "advance")
    assert "` 100% · :tada: *complete*" in card(tiny)
