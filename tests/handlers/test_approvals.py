"""Clients sign off deliverables with one click in their shared channel, and it holds up."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from onboard.bot import approvals as approvals_service
from onboard.storage.audit import Cause
from onboard.storage.models import AuditEvent, Client, Decision, DeliverableVersion, GateState
from tests.conftest import BotFactory, People, Running
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
