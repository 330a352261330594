"""Clients sign off deliverables with one click in their shared channel, and it holds up."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from onboard.bot import erasure
from onboard.bot import settlement as approvals_service
from onboard.standin.workspace import Workspace
from onboard.storage.audit import Cause
from onboard.storage.models import (
    Approver,
    AuditEvent,
    Client,
    Decision,
    DeliverableVersion,
    GateState,
)
from tests.conftest import BotFactory, FixedClock, People, Running
from tests.handlers.test_journey import TINY, channel_of, say
from tests.handlers.test_new_client import onboard_client

SIGNOFF = TINY.replace(
    "      - {key: handed-over, name: Handover done, kind: condition}",
    "      - {key: handed-over, name: Handover approved, kind: approval}",
).replace(
    "      - {key: kickoff-held, name: Kickoff held, kind: condition}",
    "      - {key: kickoff-held, name: Kickoff held, kind: condition}\n"
    "      - {key: scope-agreed, name: Scope agreed, kind: approval}",
)


@pytest.fixture
def shared(start_bot: BotFactory, tmp_path: Path, people: People) -> Running:
    """A client channel with the client's user in it (Slack Connect) and a second approver."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(SIGNOFF)
    onboard = start_bot(playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny")
    channel = channel_of(onboard)
    onboard.workspace.channels[channel].members.append(people.client.id)
    return onboard


def post_deliverable(onboard: Running, people: People, **fields: object) -> None:
    say(onboard, people.am.id, "deliverable")
    view_id = onboard.wait_for_view(people.am.id)
    form = {"title": "Solution design v1", "link": "https://docs.example.com/design", **fields}
    answer = onboard.driver.submit_view(people.am.id, view_id, form)
    assert answer.json() == {"response_action": "clear"}, answer.text
    onboard.workspace.close_views(people.am.id)
    onboard.deliver()


def decisions(onboard: Running) -> list[tuple[str, str]]:
    with onboard.bot.db.transaction() as session:
        return [
            (d.approver, d.outcome) for d in session.scalars(select(Decision).order_by(Decision.id))
        ]


def newest_message(onboard: Running) -> str:
    return str(onboard.workspace.messages_in(channel_of(onboard))[-1].blocks)


def test_the_primary_contact_is_an_approver_and_approves_with_one_click(
    shared: Running, people: People
) -> None:
    # The primary contact's email belongs to the client's Slack user: they become an approver.
    assert f"<@{people.client.id}>" in say(shared, people.am.id, "approvers")
    post_deliverable(shared, people, approvers=[people.client.id], gate="scope-agreed")

    shared.driver.click_button(people.client.id, channel_of(shared), "approve")
    shared.wait_until(lambda: decisions(shared))
    shared.deliver()

    assert decisions(shared) == [(people.client.id, "approved")]
    shown = newest_message(shared)
    assert "Approved" in shown and "approve" not in json.dumps(shown).lower().split("approved")[-1]
    with shared.bot.db.transaction() as session:
        gate = session.scalars(select(GateState).where(GateState.gate_key == "scope-agreed")).one()
        assert gate.status == "passed"
        actions = list(session.scalars(select(AuditEvent.action)))
    assert "decision.recorded" in actions and "deliverable.approved" in actions


@pytest.mark.parametrize("who", ["am", "guest", "engineer"])
def test_someone_who_is_not_an_approver_is_told_who_can_and_nothing_is_recorded(
    shared: Running, people: People, who: str
) -> None:
    post_deliverable(shared, people, approvers=[people.client.id])
    stranger = getattr(people, who)
    shared.workspace.channels[channel_of(shared)].members.append(stranger.id)
    shared.driver.click_button(stranger.id, channel_of(shared), "approve")
    told = shared.wait_until(
        lambda: [e for e in shared.workspace.ephemerals if e.user == stranger.id]
    )
    assert f"<@{people.client.id}>" in told[-1].text
    assert decisions(shared) == []
    with shared.bot.db.transaction() as session:
        refused = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "decision.refused")
        ).one()
    assert refused.actor == stranger.id
    assert refused.details == {"why": "not_an_approver"}


def test_another_clients_user_cannot_approve(shared: Running, people: People, workspace) -> None:  # type: ignore[no-untyped-def]
    other = workspace.add_user("olga.other", team_id="T0OTHER")
    shared.workspace.channels[channel_of(shared)].members.append(other.id)
    post_deliverable(shared, people, approvers=[people.client.id])
    shared.driver.click_button(other.id, channel_of(shared), "approve")
    shared.wait_until(lambda: [e for e in shared.workspace.ephemerals if e.user == other.id])
    assert decisions(shared) == []


def test_fifty_concurrent_clicks_record_one_decision(shared: Running, people: People) -> None:
    post_deliverable(shared, people, approvers=[people.client.id])
    channel = channel_of(shared)
    threads = [
        threading.Thread(
            target=shared.driver.click_button, args=(people.client.id, channel, "approve")
        )
        for _ in range(50)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shared.wait_until(lambda: len(shared.workspace.ephemerals) >= 50)
    assert decisions(shared) == [(people.client.id, "approved")]
    with shared.bot.db.transaction() as session:
        recorded = session.scalar(
            select(func.count()).where(AuditEvent.action == "decision.recorded")
        )
    assert recorded == 1


def test_request_changes_needs_a_reason(shared: Running, people: People) -> None:
    post_deliverable(shared, people, approvers=[people.client.id])
    shared.driver.click_button(people.client.id, channel_of(shared), "request_changes")
    view_id = shared.wait_for_view(people.client.id)
    empty = shared.driver.submit_view(people.client.id, view_id, {"reason": "  "}).json()
    assert empty["response_action"] == "errors" and "reason" in empty["errors"]
    assert decisions(shared) == []
    answer = shared.driver.submit_view(people.client.id, view_id, {"reason": "Add the DR runbook"})
    assert answer.json() == {"response_action": "clear"}
    shared.deliver()
    assert decisions(shared) == [(people.client.id, "changes_requested")]
    assert "Add the DR runbook" in newest_message(shared)


def test_a_new_version_supersedes_the_old_one(shared: Running, people: People) -> None:
    post_deliverable(shared, people, approvers=[people.client.id])
    first_ts = shared.workspace.messages_in(channel_of(shared))[-1].ts
    with shared.bot.db.transaction() as session:
        deliverable_id = session.scalars(select(DeliverableVersion.deliverable_id)).one()
    post_deliverable(shared, people, approvers=[people.client.id], replaces=str(deliverable_id))
    old = next(m for m in shared.workspace.messages_in(channel_of(shared)) if m.ts == first_ts)
    assert "Superseded by v2" in str(old.blocks)
    assert "approve" not in [e.get("action_id") for b in old.blocks for e in b.get("elements", [])]
    # A click on the old message (a stale client) is refused.
    shared.driver.act(
        people.client.id,
        channel_of(shared),
        first_ts,
        {"type": "button", "action_id": "approve", "block_id": "decision", "value": "1"},
    )
    told = shared.wait_until(lambda: shared.workspace.ephemerals)
    assert "old version" in told[-1].text
    assert decisions(shared) == []
    # The chain keeps why as a code: the answer names the deliverable, and a title (it may
    # name a person) is not for the append-only chain, which erasure leaves as it is.
    with shared.bot.db.transaction() as session:
        refused = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "decision.refused")
        ).one()
    assert refused.details == {"why": "superseded"}


def test_a_superseded_version_still_shows_the_title_and_rule_it_was_posted_with(
    shared: Running, people: People
) -> None:
    post_deliverable(shared, people, approvers=[people.client.id])
    first_ts = shared.workspace.messages_in(channel_of(shared))[-1].ts
    with shared.bot.db.transaction() as session:
        deliverable_id = session.scalars(select(DeliverableVersion.deliverable_id)).one()
    post_deliverable(
        shared,
        people,
        title="Solution design, revised",
        approvers=[people.client.id],
        rule="any",
        replaces=str(deliverable_id),
    )
    messages = shared.workspace.messages_in(channel_of(shared))
    old = str(next(m for m in messages if m.ts == first_ts).blocks)
    new = str(messages[-1].blocks)
    assert "Superseded by v2" in old
    assert "Solution design v1" in old and "every approver" in old
    assert "revised" not in old and "any one approver" not in old
    assert "Solution design, revised" in new and "any one approver" in new


def test_a_new_version_posted_while_the_old_one_is_being_approved_leaves_the_approval(
    shared: Running, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    post_deliverable(shared, people, approvers=[people.client.id], gate="scope-agreed")
    with shared.bot.db.transaction() as session:
        first = session.scalars(select(DeliverableVersion)).one()
        client_id = session.scalars(select(Client.id)).one()
    # The client's approval holds its version while it opens the gate...
    deciding, release = threading.Event(), threading.Event()
    open_gate = approvals_service.set_gate

    def slow_gate(*args: object, **kwargs: object) -> None:
        deciding.set()
        release.wait(30)
        open_gate(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(approvals_service, "set_gate", slow_gate)
    shared.driver.click_button(people.client.id, channel_of(shared), "approve")
    assert deciding.wait(30)
    # ...as the account manager posts v2 of the same deliverable.
    form = {"title": "Solution design v2", "approvers": [people.client.id]}
    form["replaces"] = str(first.deliverable_id)
    posting = threading.Thread(
        target=shared.bot.approvals.post, args=(client_id, form, Cause(people.am.id))
    )
    posting.start()
    if not shared.bot.db.is_sqlite:  # v2 waits for v1's lock (on SQLite, for its turn)
        shared.wait_until(lambda: _waiting_for_a_lock(shared))
    release.set()
    posting.join(30)
    shared.wait_until(lambda: decisions(shared))
    shared.settle()

    with shared.bot.db.transaction() as session:
        versions = session.scalars(select(DeliverableVersion).order_by(DeliverableVersion.id))
        assert [(v.number, v.status) for v in versions] == [(1, "approved"), (2, "pending")]
        gate = session.scalars(select(GateState).where(GateState.gate_key == "scope-agreed")).one()
        assert gate.status == "passed"


def _waiting_for_a_lock(onboard: Running) -> bool:
    with onboard.bot.db.engine.connect() as connection:
        return bool(connection.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")))


def test_the_form_offers_only_this_stages_sign_offs(shared: Running, people: People) -> None:
    say(shared, people.am.id, "deliverable")
    view_id = shared.wait_for_view(people.am.id)
    offered = str(shared.workspace.views[view_id].blocks)
    assert "scope-agreed" in offered and "handed-over" not in offered
    # A later stage's gate opens afresh when that stage begins: an approval now would be lost.
    form = {"title": "Handover pack", "approvers": [people.client.id], "gate": "handed-over"}
    answer = shared.driver.submit_view(people.am.id, view_id, form).json()
    assert answer["response_action"] == "errors"
    assert answer["errors"]["gate"] == "Choose one of this stage's sign-off gates."
    with shared.bot.db.transaction() as session:
        assert session.scalars(select(DeliverableVersion)).all() == []


def test_an_approver_the_team_removes_stays_removed(shared: Running, people: People) -> None:
    client = f"<@{people.client.id}>"
    assert client in say(shared, people.am.id, "approvers")  # the contact, adopted
    say(shared, people.am.id, f"approvers remove <@{people.client.id}|jane>")

    # Listing the approvers, or opening the deliverable form, does not adopt the contact again.
    assert client not in say(shared, people.am.id, "approvers")
    say(shared, people.am.id, "deliverable")
    assert people.client.id not in str(shared.workspace.views[shared.wait_for_view(people.am.id)])
    assert client not in say(shared, people.am.id, "approvers")
    # The team can still add them back by name.
    assert client in say(shared, people.am.id, f"approvers add <@{people.client.id}|jane>")


@pytest.mark.parametrize(
    ("rule", "required", "clicks", "status"),
    [
        ("all", None, ["client"], "pending"),
        ("all", None, ["client", "second"], "approved"),
        ("any", None, ["second"], "approved"),
        ("n", "2", ["client"], "pending"),
        ("n", "2", ["client", "second"], "approved"),
    ],
)
def test_approval_rules(  # type: ignore[no-untyped-def]
    shared: Running,
    people: People,
    workspace,
    rule: str,
    required: str | None,
    clicks: list[str],
    status: str,
) -> None:
    second = workspace.add_user("sam.client", team_id="T0CLIENT")
    shared.workspace.channels[channel_of(shared)].members.append(second.id)
    say(shared, people.am.id, f"approvers add <@{second.id}|sam>")
    fields: dict[str, object] = {"approvers": [people.client.id, second.id], "rule": rule}
    if required:
        fields["required"] = required
    post_deliverable(shared, people, **fields)
    for who in clicks:
        user = people.client.id if who == "client" else second.id
        shared.driver.click_button(user, channel_of(shared), "approve")
        shared.wait_until(lambda u=user: [e for e in shared.workspace.ephemerals if e.user == u])
    with shared.bot.db.transaction() as session:
        assert session.scalars(select(DeliverableVersion.status)).one() == status


def test_bad_deliverable_input_stays_in_the_modal(shared: Running, people: People) -> None:
    say(shared, people.am.id, "deliverable")
    view_id = shared.wait_for_view(people.am.id)
    answer = shared.driver.submit_view(
        people.am.id,
        view_id,
        {
            "title": "",
            "link": "javascript:alert(1)",
            "approvers": [people.engineer.id],
            "rule": "n",
            "required": "5",
        },
    ).json()
    assert answer["response_action"] == "errors"
    assert {"title", "link", "required"} <= set(answer["errors"])
    form = {"title": "Design", "link": "https://[tenant].example", "approvers": []}
    answer = shared.driver.submit_view(people.am.id, view_id, form).json()
    assert answer["errors"]["link"] == "Paste a full link starting with https://"
    with shared.bot.db.transaction() as session:
        assert session.scalars(select(DeliverableVersion)).all() == []
        assert session.scalars(select(Client.status)).one() == "active"


def told(onboard: Running, user: str) -> str:
    """The newest private answer `user` got (a click is answered after its ack)."""
    found = onboard.wait_until(lambda: [e for e in onboard.workspace.ephemerals if e.user == user])
    return found[-1].text


def statuses(onboard: Running) -> list[str]:
    with onboard.bot.db.transaction() as session:
        return list(
            session.scalars(select(DeliverableVersion.status).order_by(DeliverableVersion.id))
        )


def gate_status(onboard: Running, key: str) -> str:
    with onboard.bot.db.transaction() as session:
        return session.scalars(select(GateState.status).where(GateState.gate_key == key)).one()


def refusals(onboard: Running) -> list[object]:
    with onboard.bot.db.transaction() as session:
        return [
            e.details["why"]
            for e in session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "decision.refused")
                .order_by(AuditEvent.seq)
            )
        ]


def second_approver(onboard: Running, people: People, workspace: Workspace) -> str:
    """Sam, a second person at the client, in the channel and designated as an approver."""
    sam = workspace.add_user("sam.client", team_id="T0CLIENT")
    onboard.workspace.channels[channel_of(onboard)].members.append(sam.id)
    say(onboard, people.am.id, f"approvers add <@{sam.id}|sam>")
    return sam.id


def test_when_an_approver_leaves_the_client_the_others_still_pass_the_sign_off(
    shared: Running, people: People, workspace: Workspace
) -> None:
    sam = second_approver(shared, people, workspace)
    post_deliverable(shared, people, approvers=[people.client.id, sam], gate="scope-agreed")
    # Sam leaves the client: the team removes him. Carla, the one approver left, approves.
    say(shared, people.am.id, f"approvers remove <@{sam}|sam>")
    shared.driver.click_button(people.client.id, channel_of(shared), "approve")
    assert "Recorded" in told(shared, people.client.id)
    shared.deliver()
    assert statuses(shared) == ["approved"]
    assert gate_status(shared, "scope-agreed") == "passed"
    assert decisions(shared) == [(people.client.id, "approved")]


def test_removing_the_last_approver_who_had_not_decided_settles_the_sign_off(
    shared: Running, people: People, workspace: Workspace
) -> None:
    sam = second_approver(shared, people, workspace)
    post_deliverable(shared, people, approvers=[people.client.id, sam], gate="scope-agreed")
    shared.driver.click_button(people.client.id, channel_of(shared), "approve")
    told(shared, people.client.id)
    assert statuses(shared) == ["pending"]  # waiting for Sam
    answer = say(shared, people.am.id, f"approvers remove <@{sam}|sam>")
    assert "is now approved" in answer
    shared.deliver()
    assert statuses(shared) == ["approved"]
    assert gate_status(shared, "scope-agreed") == "passed"
    assert "Approved" in newest_message(shared)
    assert decisions(shared) == [(people.client.id, "approved")]


def test_removing_every_approver_of_a_version_keeps_it_pending_and_tells_the_team(
    shared: Running, people: People
) -> None:
    post_deliverable(shared, people, approvers=[people.client.id], gate="scope-agreed")
    answer = say(shared, people.am.id, f"approvers remove <@{people.client.id}|carla>")
    # "Every approver" of nobody is not an approval: it waits for a new version.
    assert "Nobody left can sign off" in answer and "Solution design v1" in answer
    assert statuses(shared) == ["pending"]
    assert gate_status(shared, "scope-agreed") == "open"
    shared.driver.click_button(people.client.id, channel_of(shared), "approve")
    assert "Nobody who may still decide" in told(shared, people.client.id)
    assert decisions(shared) == []


def test_a_removed_approver_is_not_named_in_the_daily_nudge(
    start_bot: BotFactory, tmp_path: Path, people: People, workspace: Workspace
) -> None:
    folder = tmp_path / "playbooks"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(SIGNOFF)
    monday = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    onboard = start_bot(clock=FixedClock(monday), playbook_dir=folder)
    onboard_client(onboard, people, playbook="tiny")
    onboard.workspace.channels[channel_of(onboard)].members.append(people.client.id)
    sam = second_approver(onboard, people, workspace)
    post_deliverable(onboard, people, approvers=[people.client.id, sam])
    say(onboard, people.am.id, f"approvers remove <@{sam}|sam>")
    # Wednesday: two business days waiting, Carla has not decided; Sam no longer may.
    assert onboard.bot.nudges.approvals(dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)) == 1
    onboard.deliver()
    nudge = next(
        m for m in onboard.workspace.messages_in(channel_of(onboard)) if m.text.startswith("Wait")
    )
    assert f"<@{people.client.id}>" in str(nudge.blocks) and sam not in str(nudge.blocks)
    # Carla approves: nothing is left to nudge anyone about.
    onboard.driver.click_button(people.client.id, channel_of(onboard), "approve")
    told(onboard, people.client.id)
    onboard.deliver()
    days = (26, 27, 30)
    sent = [onboard.bot.nudges.approvals(dt.datetime(2026, 11, d, 10, tzinfo=dt.UTC)) for d in days]
    assert sent == [0, 0, 0]


def test_the_team_cannot_make_itself_an_approver_and_sign_off_for_the_client(
    shared: Running, people: People
) -> None:
    answer = say(shared, people.am.id, f"approvers add <@{people.am.id}|alice>")
    assert "on the onboarding team" in answer and "Nobody was added" in answer
    assert f"<@{people.am.id}>" not in say(shared, people.am.id, "approvers")
    with shared.bot.db.transaction() as session:
        added = session.scalars(
            select(AuditEvent.subject).where(AuditEvent.action == "approver.added")
        )
        assert people.am.id not in list(added)
    # Alice was made an approver before this was refused: her click is refused all the same.
    with shared.bot.db.transaction() as session:
        client_id = session.scalars(select(Client.id)).one()
        session.add(
            Approver(
                client_id=client_id,
                user_id=people.am.id,
                added_by=people.am.id,
                added_at=dt.datetime.now(dt.UTC),
            )
        )
    post_deliverable(shared, people, approvers=[people.am.id], rule="any", gate="scope-agreed")
    shared.driver.click_button(people.am.id, channel_of(shared), "approve")
    assert "onboarding team cannot decide" in told(shared, people.am.id)
    shared.deliver()
    assert decisions(shared) == []
    assert statuses(shared) == ["pending"]
    assert gate_status(shared, "scope-agreed") == "open"
    assert refusals(shared) == ["team_member"]


def test_a_new_version_keeps_the_sign_off_gate_of_the_one_it_replaces(
    shared: Running, people: People
) -> None:
    post_deliverable(shared, people, approvers=[people.client.id], gate="scope-agreed")
    with shared.bot.db.transaction() as session:
        deliverable_id = session.scalars(select(DeliverableVersion.deliverable_id)).one()
    # The account manager posts v2 and leaves the gate empty (the form does not show v1's).
    post_deliverable(
        shared,
        people,
        title="Solution design v2",
        approvers=[people.client.id],
        replaces=str(deliverable_id),
    )
    shared.driver.click_button(people.client.id, channel_of(shared), "approve")
    told(shared, people.client.id)
    shared.deliver()
    assert statuses(shared) == ["superseded", "approved"]
    assert gate_status(shared, "scope-agreed") == "passed"


def test_an_approver_who_already_approved_is_told_so_when_asking_for_changes(
    shared: Running, people: People, workspace: Workspace
) -> None:
    sam = second_approver(shared, people, workspace)
    post_deliverable(shared, people, approvers=[people.client.id, sam])
    # Carla opens the Request changes form, and approves from another device meanwhile.
    shared.driver.click_button(people.client.id, channel_of(shared), "request_changes")
    view_id = shared.wait_for_view(people.client.id)
    shared.driver.click_button(people.client.id, channel_of(shared), "approve")
    assert "Recorded" in told(shared, people.client.id)
    answer = shared.driver.submit_view(
        people.client.id, view_id, {"reason": "Actually, the DR runbook is missing"}
    ).json()
    # The form stays open and says why nothing was sent, instead of closing as if it was.
    assert answer["response_action"] == "errors"
    assert "You already approved this version" in answer["errors"]["reason"]
    # The button says so at once, rather than opening a form that cannot be sent.
    shown = len(shared.workspace.open_views_for(people.client.id))
    shared.driver.click_button(people.client.id, channel_of(shared), "request_changes")
    shared.wait_until(
        lambda: len([e for e in shared.workspace.ephemerals if e.user == people.client.id]) >= 2
    )
    assert "You already approved this version" in told(shared, people.client.id)
    shared.settle()
    assert len(shared.workspace.open_views_for(people.client.id)) == shown
    assert decisions(shared) == [(people.client.id, "approved")]


def test_an_approval_waits_for_its_stage_when_the_journey_went_back(
    shared: Running, people: People
) -> None:
    say(shared, people.admin.id, "advance --force kickoff done offline")
    say(shared, people.admin.id, "advance --force build done")
    post_deliverable(
        shared, people, approvers=[people.client.id], gate="handed-over", title="Handover pack"
    )
    say(shared, people.am.id, "back build one more fix")
    # Approved now, it would pass a gate Handover opens afresh: it is on hold, not lost.
    shared.driver.click_button(people.client.id, channel_of(shared), "approve")
    assert "on hold until Handover" in told(shared, people.client.id)
    shared.deliver()
    assert decisions(shared) == [] and statuses(shared) == ["pending"]
    assert refusals(shared) == ["on_hold"]
    # Back in Handover, the same message takes the approval, and the gate passes.
    say(shared, people.admin.id, "advance --force fixed")
    shared.driver.click_button(people.client.id, channel_of(shared), "approve")
    shared.wait_until(lambda: decisions(shared))
    shared.deliver()
    assert statuses(shared) == ["approved"]
    assert gate_status(shared, "handed-over") == "passed"


def test_no_decision_is_taken_once_the_clients_data_is_erased(
    shared: Running, people: People
) -> None:
    post_deliverable(shared, people, approvers=[people.client.id], title="Design for Carla")
    # Carla opens the form before the erasure; her message keeps its buttons afterwards.
    shared.driver.click_button(people.client.id, channel_of(shared), "request_changes")
    view_id = shared.wait_for_view(people.client.id)
    with shared.bot.db.transaction() as session:
        slug = session.scalars(select(Client.slug)).one()
    erasure.erase(
        shared.bot.db, slug, Cause("U0OPERATOR"), reason="request", now=dt.datetime.now(dt.UTC)
    )
    answer = shared.driver.submit_view(
        people.client.id, view_id, {"reason": "Call me on +44 7700 900123, Carla"}
    ).json()
    assert answer["response_action"] == "errors"
    assert "erased" in answer["errors"]["reason"]
    shared.driver.click_button(people.client.id, channel_of(shared), "approve")
    assert "erased" in told(shared, people.client.id)
    shared.deliver()
    with shared.bot.db.transaction() as session:
        assert list(session.scalars(select(Decision.reason))) == []
    assert decisions(shared) == [] and statuses(shared) == ["pending"]


def test_no_decision_is_taken_once_the_client_completed(shared: Running, people: People) -> None:
    post_deliverable(shared, people, approvers=[people.client.id], gate="scope-agreed")
    for _ in range(3):
        say(shared, people.admin.id, "advance --force wrapping up")
    shared.driver.click_button(people.client.id, channel_of(shared), "approve")
    assert "has completed onboarding" in told(shared, people.client.id)
    shared.deliver()
    assert decisions(shared) == [] and statuses(shared) == ["pending"]
    assert refusals(shared) == ["client_closed"]


def test_the_request_changes_form_shows_the_title_as_typed(shared: Running, people: People) -> None:
    post_deliverable(shared, people, approvers=[people.client.id], title="R&D plan <draft>")
    shared.driver.click_button(people.client.id, channel_of(shared), "request_changes")
    view_id = shared.wait_for_view(people.client.id)
    shown = shared.workspace.views[view_id].blocks[0]["text"]["text"]
    assert shown.startswith("*R&amp;D plan &lt;draft&gt;*"), shown  # escaped once, for mrkdwn


def test_another_clients_user_forging_a_buttons_value_learns_nothing_of_the_deliverable(
    shared: Running, people: People
) -> None:
    # A button's value is the clicker's to forge. Bob, Blue Widgets' user, sends Approve with
    # the ID of Acme's deliverable: whatever its state, he is told nothing of it (not its
    # title, nor its approvers, nor the client's name), and nothing is decided.
    post_deliverable(shared, people, title="Secret merger plan", approvers=[people.client.id])
    acme = channel_of(shared)
    with shared.bot.db.transaction() as session:
        version_id = session.scalars(select(DeliverableVersion.id)).one()
    onboard_client(shared, people, playbook="tiny", name="Blue Widgets")
    with shared.bot.db.transaction() as session:
        blue = session.scalars(select(Client.channel_id).where(Client.name == "Blue Widgets")).one()
    assert blue is not None
    bob = shared.workspace.add_user("bob.blue", team_id="T0BLUE", email="bob@blue.example")
    shared.workspace.channels[blue].members.append(bob.id)

    def bob_forges_approve() -> str:
        told_before = len([e for e in shared.workspace.ephemerals if e.user == bob.id])
        button = {"type": "button", "action_id": "approve", "block_id": "x"}
        shared.driver.act(bob.id, blue, "1.000001", {**button, "value": str(version_id)})
        told = shared.wait_until(
            lambda: [e for e in shared.workspace.ephemerals if e.user == bob.id][told_before:]
        )
        return told[-1].text

    pending = bob_forges_approve()
    shared.driver.click_button(people.client.id, acme, "approve")  # Carla decides
    shared.deliver()
    decided = bob_forges_approve()
    for told in (pending, decided):
        assert "Secret merger" not in told and people.client.id not in told
        assert "Acme" not in told
    assert decisions(shared) == [(people.client.id, "approved")]


def test_an_erasure_leaves_no_version_title_behind(shared: Running, people: People) -> None:
    # Titles may name people ("Design for Carla"): each version keeps its own since 0015.
    post_deliverable(shared, people, approvers=[people.client.id], title="Design for Carla")
    with shared.bot.db.transaction() as session:
        slug = session.scalars(select(Client.slug)).one()
    now = dt.datetime.now(dt.UTC)
    erasure.erase(shared.bot.db, slug, Cause("U0OPERATOR"), reason="request", now=now)
    with shared.bot.db.transaction() as session:
        titles = session.scalars(select(DeliverableVersion.title)).all()
    assert titles == ["erased"]
