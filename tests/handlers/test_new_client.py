"""An account manager starts onboarding a client with `/onboard new`, over real HTTP."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from onboard.storage.models import AuditEvent, Client
from tests.conftest import People, Running

GO_LIVE = (dt.date.today() + dt.timedelta(days=60)).isoformat()


def good_form(**changes: Any) -> dict[str, Any]:
    form = {
        "name": "Acme Rockets",
        "tier": "Gold",
        "contact_name": "Carla Client",
        "contact_email": "carla@acme.example",
        "timezone": "Europe/London",
        "country": "GB",
        "go_live": GO_LIVE,
        "playbook": "managed-services",
    }
    return {**form, **changes}


def open_form(onboard: Running, user_id: str, text: str = "new Acme Rockets") -> str:
    answer = onboard.driver.command(user_id, text)
    assert answer.status == 200
    return onboard.wait_for_view(user_id)


def audit_actions(onboard: Running) -> list[str]:
    with onboard.bot.db.transaction() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_account_manager_onboards_a_client_into_its_own_channel(
    onboard: Running, people: People
) -> None:
    view_id = open_form(onboard, people.am.id)
    modal = onboard.workspace.view(view_id)
    assert modal is not None and modal.callback_id == "new_client"
    name_block = next(b for b in modal.blocks if b.get("block_id") == "name")
    assert name_block["element"]["initial_value"] == "Acme Rockets"

    answer = onboard.driver.submit_view(people.am.id, view_id, good_form())
    assert answer.status == 200
    assert answer.json() == {"response_action": "clear"}
    onboard.deliver()

    channel = onboard.workspace.channel_by_name("client-acme-rockets")
    assert channel is not None and channel.is_private
    assert {people.am.id, people.engineer.id} <= set(channel.members)
    assert "Acme Rockets" in channel.topic and "Sales Handoff" in channel.topic
    assert "Acme Rockets" in channel.purpose
    welcome = onboard.workspace.messages_in(channel.id)
    assert len(welcome) == 1 and "Welcome, Acme Rockets" in welcome[0].text
    stages = str(welcome[0].blocks)
    assert "Technical Discovery" in stages and "Transition to BAU" in stages

    dm = [
        c
        for c in onboard.workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == people.am.id
    ]
    assert len(dm) == 1 and f"<#{channel.id}>" in dm[0].args["text"]

    with onboard.bot.db.transaction() as session:
        client = session.scalars(select(Client)).one()
        assert (client.slug, client.channel_id, client.status) == (
            "acme-rockets",
            channel.id,
            "active",
        )
        assert client.contacts[0].email == "carla@acme.example"
    assert audit_actions(onboard) == [
        "client.created",
        "contact.added",
        "channel.created",
        "channel.topic_set",
        "channel.purpose_set",
        "channel.invited",
        "channel.welcomed",
        "client.confirmation_sent",
    ]
