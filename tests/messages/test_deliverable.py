"""A sign-off with many approvers and decisions still fits one Slack message, and says how many
it does not list."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace as NS

from onboard.blockkit import message_too_long
from onboard.messages.render import render_message

WHEN = dt.datetime(2027, 3, 1, 9, 30, tzinfo=dt.UTC)


def deliverable(approvers: int, decisions: int, reason: str = "Fix the logo") -> dict:
    people = [f"U0APPROVER{n:03d}" for n in range(approvers)]
    return render_message(
        "deliverable",
        deliverable=NS(title="Brand guidelines"),
        version=NS(
            id=7,
            number=2,
            title="Brand guidelines",
            rule="all",
            required=approvers,
            status="pending",
            link=None,
            description=None,
            approvers=people,
        ),
        decisions=[
            NS(
                approver=people[n % approvers],
                outcome="approved" if n % 3 else "changes",
                decided_at=WHEN + dt.timedelta(minutes=n),
                reason=None if n % 3 else f"{reason} #{n}",
            )
            for n in range(decisions)
        ],
        newest=2,
    )


def texts(message: dict) -> list[str]:
    return [e["text"] for b in message["blocks"] for e in b.get("elements", []) if "text" in e]


def test_thirty_approvers_are_named_up_to_twenty_and_the_rest_counted() -> None:
    approvers_line = texts(deliverable(30, 0))[0]
    assert "<@U0APPROVER019>" in approvers_line
    assert "<@U0APPROVER020>" not in approvers_line
    assert approvers_line.endswith("and 10 more")


def test_twenty_five_decisions_are_counted_and_the_latest_ten_listed() -> None:
    lines = texts(deliverable(30, 25))
    assert "25 decisions: 16 approved, 9 requested changes. The latest 10:" in lines
    listed = [line for line in lines if " on 1 Mar 2027 at " in line]
    assert len(listed) == 10
    assert "#24" in listed[-1] and "#15" in listed[0]


def test_forty_long_change_requests_still_fit_one_message() -> None:
    message = deliverable(60, 40, reason="x" * 600)
    assert not message_too_long(message["blocks"])
