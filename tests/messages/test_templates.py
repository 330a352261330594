"""Every template, fed the longest and most escaped input its callers allow, renders into
something Slack takes: checked block by block, element by element (onboard.blockkit)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from types import SimpleNamespace as NS
from typing import Any

import pytest

from onboard.blockkit import block_problems, view_problems
from onboard.bot.digest import Digest, Risk
from onboard.bot.intake_state import Line, Section, item
from onboard.bot.playbooks import Question, Questionnaire, QuestionPage
from onboard.messages.render import environment, render_message, render_texts, render_view

# Templates a page includes rather than renders: covered through their page.
INCLUDED = {"intake_element"}


def typed(n: int) -> str:
    """n characters a person could type, some of them escaped to several (`&` → `&amp;`)."""
    return ("Tom & Jerry <Ltd> " * n)[:n]


def written(n: int) -> str:
    """Playbook text (stage, task and gate names...) at the playbook schema's own maximum: an
    operator's playbook may reach it, and 20 such gates must still fit a section."""
    return typed(n)


KEY = "security-sign-off-02"  # a playbook key, as long as people make them


def users(n: int) -> list[str]:
    return [f"U0{i:09d}" for i in range(n)]


DAY = dt.date(2027, 12, 31)
WHEN = dt.datetime(2027, 12, 31, 23, 59, tzinfo=dt.UTC)
CLIENT = NS(
    id=2_147_483_647,
    name=typed(150),  # MAX_NAME
    slug="a" * 80,  # its column's length
    tier="Platinum",
    account_manager="U0ALICE000",
    channel_id="C0ACMEROCKET",
    go_live=DAY,
    timezone="America/Argentina/ComodRivadavia",
    status="active",
)
TASKS = [
    NS(
        number=n,
        title=written(150),
        owner_role=written(80),
        assignee="U0BOB00000" if n % 2 else None,
        due=DAY,
        done_at=None if n % 3 else WHEN,
    )
    for n in range(1, 61)  # MAX_TASKS
]
# Tasks at their longest in a list: open, unassigned, overdue, numbered high.
OPEN_TASKS = [
    NS(**{**vars(t), "number": 999_999_900 + t.number, "assignee": None, "done_at": None})
    for t in TASKS
]
LONGEST_KEY = ("security-sign-off-" * 4)[:60]  # the playbook's Key: at most 60 characters
GATE = NS(key=KEY, name=written(150))
STAGE = NS(
    key=KEY,
    name=written(100),
    objective=typed(500),
    owner=written(80),
    duration_label="365 calendar days",
    duration_days=NS(max=365),
    gates=[GATE] * 20,
    tasks=[NS(title=written(150), owner=written(80))],
)
PLAYBOOK = NS(name=written(150), stages=[STAGE] * 40)
CRITERIA = [(KEY, written(150), status) for status in ("passed", "failed", "open") * 7]
PROGRESS = NS(
    client=CLIENT,
    stage=STAGE,
    stages=[NS(stage=STAGE, state=s) for s in ("done", "current", "upcoming") * 14],
    position=40,
    tasks=TASKS,
    overdue=TASKS[:30],
    done_tasks=20,
    percent=100,
    overall_percent=99,
    days_in_stage=365,
    late=True,
    health="at risk",
    gates=[(GATE.key, GATE.name, s) for s in ("passed", "failed", "open") * 7],
    open_gates=[(GATE.key, GATE.name)],
    next_task=TASKS[0],
)


def questionnaire() -> Questionnaire:
    """The largest questionnaire a playbook may hold, one question of every kind a page."""
    kinds: list[dict[str, Any]] = [
        {"kind": "text", "max_length": 3000},
        {"kind": "long_text"},
        {"kind": "phone"},
        {"kind": "email"},
        {"kind": "url"},
        {"kind": "number", "min": -1e9, "max": 1e9, "decimal": True},
        {"kind": "date"},
        {"kind": "single_choice", "options": [f"{typed(72)}{i:03d}" for i in range(100)]},
        {"kind": "multi_choice", "options": [f"{typed(72)}{i:03d}" for i in range(100)]},
        {"kind": "multi_choice", "options": [f"{typed(72)}{i:03d}" for i in range(10)]},
        {"kind": "user"},
        {"kind": "file", "max_files": 10},
        {"kind": "yes_no"},
        {"kind": "country"},
        {"kind": "timezone"},
    ]
    pages = [
        QuestionPage(
            key=f"page-{p}",
            title=typed(60),
            intro=typed(1000),
            questions=[
                Question(
                    # Any key a playbook may use, including one a template's own block might.
                    key="nav" if p == 1 and i == 0 else f"q{p}-{i}",
                    label=typed(150),
                    help=typed(500),
                    placeholder=typed(150),
                    required=i % 2 == 0,
                    credential=True,
                    **kinds[(p + i) % len(kinds)],
                )
                for i in range(20 if p < 4 else 4)  # MAX_PAGE_QUESTIONS, MAX_QUESTIONS in all
            ],
        )
        for p in range(8)
    ]
    return Questionnaire(
        title=typed(60),
        why=typed(500),
        minutes=480,
        stage="s" * 60,
        gate="g" * 60,
        access_guidance=typed(1000),
        pages=pages,
    )


QUESTIONNAIRE = questionnaire()
QUESTIONS = [q for _, q in QUESTIONNAIRE.questions()]


def answer(question: Question) -> NS:
    """The longest answer each kind of question takes, as stored."""
    value: Any = {
        "number": 123456789.25,
        "date": "2027-12-31",
        "single_choice": question.options[-1] if question.options else None,
        "multi_choice": list(question.options),
        "user": "U0CARLA000",
        "file": [{"id": f"F0{i:09d}", "name": typed(255)} for i in range(10)],
        "yes_no": True,
        "country": "GB",
        "timezone": "America/Argentina/ComodRivadavia",
    }.get(question.kind, typed(question.text_limit))
    return NS(value=value, answered_by="U0CARLA000")


SECTIONS = [
    Section(
        page,
        index,
        [Line(q, typed(3000), "U0CARLA000") for q in page.questions],
        len(page.questions),
        len(page.questions),
    )
    for index, page in enumerate(QUESTIONNAIRE.pages)
]
INTAKE = NS(
    id=2_147_483_647,
    status="open",
    submitted_by="U0CARLA000",
    verified_by="U0ALICE000",
    reopened=[q.key for q in QUESTIONS],
)


INTAKE_STATUSES = ("open", "changes_requested", "submitted", "verified")


def with_intake(status: str, **more: Any) -> dict[str, Any]:
    return {
        "client": CLIENT,
        "questionnaire": QUESTIONNAIRE,
        "intake": NS(**{**vars(INTAKE), "status": status}),
        "sections": SECTIONS,
        "answered": 100,
        "total": 100,
        "missing": 100,
    } | more


def prompt_view(kind: str, closed: bool) -> NS:
    answers = [
        NS(user_id=u, health=h, blockers=typed(1000))
        for u, h in zip(users(30), ("green", "amber", "red") * 10, strict=True)
    ]
    lines = [
        NS(day=DAY, health="red", status=s, answered=30, expected=30, blockers=30)
        for s in ("missed", "paused", "open", "closed") * 5
    ]
    return NS(
        client=CLIENT,
        prompt=NS(id=2_147_483_647, day=DAY, kind=kind),
        closes_at="midnight",
        hypercare_day=365,
        hypercare_days=365,
        end_date=DAY,
        closed=closed,
        answers=answers,
        counted=answers,
        blockers=answers,
        waiting=users(30),
        away=users(30),
        asked=30,
        trend=lines[:5],
        week=lines,
        criteria=CRITERIA,
        criteria_met=7,
        week_number=53,
    )


def every_command() -> list[tuple[str, str]]:
    """The real /onboard help: its lines are the bot's, not typed, and all of them show."""
    from onboard.handlers import (  # noqa: F401 - each registers its subcommands
        approvals,
        intake,
        journey,
        new_client,
        standups,
        surveys,
    )
    from onboard.handlers.commands import help_lines

    return help_lines()


Rendered = dict[str, Any]
Case = Callable[[], list[Rendered]]


def messages(template: str, *contexts: dict[str, Any]) -> list[Rendered]:
    return [render_message(template, **context) for context in contexts]


def views(template: str, *contexts: dict[str, Any]) -> list[Rendered]:
    return [render_view(template, **context) for context in contexts]


CASES: dict[str, Case] = {
    "approval_nudge": lambda: messages(
        "approval_nudge",
        {
            "client": CLIENT,
            "days": 365,
            "deliverable": NS(title=typed(150)),
            "version": NS(number=999),
            "waiting": users(60),
        },
    ),
    "approvers": lambda: messages(
        "approvers", {"client": CLIENT, "approvers": users(60)}, {"client": CLIENT, "approvers": []}
    ),
    "archive_offer": lambda: messages("archive_offer", {"client": CLIENT}),
    "bau_review_reminder": lambda: messages(
        "bau_review_reminder",
        {"client": CLIENT, "cadence": "quarterly", "due": DAY, "following": DAY},
    ),
    "changes_modal": lambda: views("changes_modal", {"title": typed(150), "version_id": 2**31}),
    "channel_description": lambda: [
        render_texts("channel_description", client=CLIENT, playbook=PLAYBOOK, stage=STAGE)
    ],
    "client_created": lambda: messages("client_created", {"client": CLIENT, "stage": STAGE}),
    "connect_refused": lambda: messages("connect_refused", {"client": CLIENT}),
    "deliverable": lambda: messages(
        "deliverable",
        *(
            {
                "deliverable": NS(title=typed(150)),
                "version": NS(
                    id=2**31,
                    number=999,
                    title=typed(150),
                    rule=rule,
                    required=20,
                    status=status,
                    link="https://example.com/" + typed(480),
                    description=typed(2500),
                    approvers=users(60),
                ),
                "decisions": [
                    NS(approver=u, outcome=o, decided_at=WHEN, reason=typed(500))
                    for u, o in zip(users(30), ("approved", "changes") * 15, strict=True)
                ],
                "newest": 1000,
            }
            for rule, status in (
                ("all", "pending"),
                ("any", "approved"),
                ("n", "changes_requested"),
                ("n", "superseded"),
            )
        ),
    ),
    "deliverable_modal": lambda: views(
        "deliverable_modal",
        {
            "client_id": 2**31,
            "gates": [(f"g{i}", typed(150)) for i in range(120)],
            "approvers": users(60),
            "deliverables": [(i, typed(150)) for i in range(120)],
        },
    ),
    "delivery_failed": lambda: messages(
        "delivery_failed",
        {"client": CLIENT, "step": "conversations.inviteShared", "error": typed(500)},
    ),
    "digest": lambda: messages(
        "digest",
        {
            "d": Digest(
                as_of=WHEN,
                week_start=WHEN,
                stages=[(typed(100), 999, -999) for _ in range(40)],
                started=[typed(150)] * 20,
                went_live=[typed(150)] * 20,
                completed=[typed(150)] * 20,
                risks=[Risk(typed(150), "C0ACMEROCKET", [typed(200)] * 5)] * 15,  # MAX_RISKS
                risks_more=999,
                approved=999,
                changes_requested=999,
                kpis={f"KPI {i}": typed(500) for i in range(10)},
                total=999,
            ),
            "local_date": DAY,
            "no_timezone": True,
        },
    ),
    "help": lambda: messages(
        "help",
        {"commands": every_command()},
        {"commands": every_command(), "unknown": typed(300)},
    ),
    "home": lambda: views(
        "home",
        *(
            {
                "audience": audience,
                "clients": [PROGRESS] * 30,  # home.MAX_CLIENTS
                "more": 999,
            }
            for audience in ("admin", "team", "client")
        ),
        {"audience": "nobody", "clients": [], "more": 0},
    ),
    "hypercare_bau": lambda: messages(
        "hypercare_bau",
        {
            "client": CLIENT,
            "cadence": "quarterly",
            "criteria": CRITERIA,
            "met": 7,
            "first": DAY,
            "reviewer": "U0ALICE000",
        },
    ),
    "hypercare_exit_ready": lambda: messages(
        "hypercare_exit_ready", {"client": CLIENT, "care": NS(next_stage=typed(100))}
    ),
    "hypercare_overrun": lambda: messages(
        "hypercare_overrun",
        {
            "client": CLIENT,
            "care": NS(rules=NS(days=365)),
            "criteria": CRITERIA,
            "row": NS(end_date=DAY),
        },
        {"client": CLIENT, "care": NS(rules=NS(days=30)), "criteria": [], "row": NS(end_date=DAY)},
    ),
    "hypercare_started": lambda: messages(
        "hypercare_started",
        {
            "client": CLIENT,
            "care": NS(rules=NS(days=365)),
            "criteria": CRITERIA,
            "row": NS(start_date=DAY, end_date=DAY),
            "standups": [DAY] * 60,
            "reviews": [DAY] * 60,
            "time": dt.time(23, 59),
        },
    ),
    "intake_changes": lambda: messages(
        "intake_changes",
        {
            "client": CLIENT,
            "intake": INTAKE,
            "note": typed(2000),
            "questions": QUESTIONS,
            "reviewer": "U0ALICE000",
        },
    ),
    "intake_changes_modal": lambda: views(
        "intake_changes_modal", {"client": CLIENT, "intake_id": 2**31, "sections": SECTIONS}
    ),
    "intake_done": lambda: views("intake_done", {"client": CLIENT, "questionnaire": QUESTIONNAIRE}),
    "intake_message": lambda: messages(
        "intake_message", *(with_intake(s) for s in INTAKE_STATUSES)
    ),
    "intake_notice": lambda: views("intake_notice", {"text": typed(3000)}),
    "intake_page": lambda: views(
        "intake_page",
        *(
            {
                "meta": typed(2900),
                "questionnaire": QUESTIONNAIRE,
                "client": CLIENT,
                "title": page.title,
                "intro": page.intro,
                "position": (12, 12),
                "note": typed(2000),
                "first": first,
                "last": not first,
                "items": [item(q, answer(q)) for q in page.questions],
            }
            for page in QUESTIONNAIRE.pages
            for first in (True, False)
        ),
        *(
            {
                "meta": "{}",
                "questionnaire": QUESTIONNAIRE,
                "client": CLIENT,
                "title": page.title,
                "intro": None,
                "position": None,
                "note": None,
                "first": False,
                "last": True,
                "items": [item(q, None) for q in page.questions],
            }
            for page in QUESTIONNAIRE.pages
        ),
    ),
    "intake_reminder": lambda: messages(
        "intake_reminder",
        *(
            with_intake(status, kind=kind, waited=60, number=10, last=True)
            for kind in ("support", "dm", "channel")
            for status in ("open", "changes_requested")
        ),
    ),
    "intake_review": lambda: views(
        "intake_review",
        *(
            with_intake(status, meta=typed(2900), can_submit=status == "open")
            | {"missing": [typed(150)] * 100}
            for status in INTAKE_STATUSES
        ),
    ),
    "intake_status": lambda: messages(
        "intake_status",
        *(with_intake(s) for s in INTAKE_STATUSES),
        with_intake("open") | {"intake": None},
    ),
    "intake_summary": lambda: messages(
        "intake_summary", *(with_intake(s) for s in INTAKE_STATUSES)
    ),
    "intake_verified": lambda: messages(
        "intake_verified",
        {"client": CLIENT, "questionnaire": QUESTIONNAIRE, "reviewer": "U0ALICE000"},
    ),
    "journey_card": lambda: messages(
        "journey_card",
        {"p": PROGRESS},
        {"p": NS(**{**vars(PROGRESS), "client": NS(**{**vars(CLIENT), "status": "completed"})})},
    ),
    "journey_completed": lambda: messages(
        "journey_completed", {"client": CLIENT, "playbook": PLAYBOOK}
    ),
    "new_client_modal": lambda: views(
        "new_client_modal",
        {
            "metadata": typed(2900),
            "name": typed(150),
            "tiers": ("Platinum", "Gold", "Silver"),
            "timezone": "America/Argentina/ComodRivadavia",
            "playbooks": {f"playbook-{i}": typed(150) for i in range(100)},
            "default_playbook": "playbook-99",
        },
        {
            "metadata": "{}",
            "name": "",
            "tiers": ("Platinum", "Gold", "Silver"),
            "timezone": None,
            "playbooks": {"standard": typed(150)},
            "default_playbook": "standard",
            "problem": typed(3000),
            "countries": {"GB": typed(100)},
            "values": {
                "tier": "Gold",
                "contact_name": typed(300),
                "contact_email": typed(400),
                "country": "GB",
                "go_live": "2027-12-31",
            },
        },
    ),
    "new_client_saved": lambda: views("new_client_saved", {"name": typed(150)}),
    "new_client_saving": lambda: views("new_client_saving", {"name": typed(150)}),
    "notice": lambda: messages("notice", {"text": typed(4000), "icon": ":warning:"}),
    "stage_entered": lambda: messages(
        "stage_entered",
        {"stage": STAGE, "tasks": TASKS},
        {"stage": STAGE, "tasks": TASKS, "back_reason": typed(500), "loop": typed(100)},
    ),
    "standup_answer": lambda: messages(
        "standup_answer",
        *(
            {
                "answer": NS(
                    user_id="U0CARLA000",
                    health=health,
                    revision=2,
                    yesterday=typed(3000),
                    today=typed(3000),
                    blockers=typed(3000),
                )
            }
            for health in ("green", "amber", "red")
        ),
    ),
    "standup_escalation": lambda: messages(
        "standup_escalation",
        {
            "client": CLIENT,
            "prompt": NS(day=DAY),
            "answer": NS(user_id="U0CARLA000", health="red", blockers=typed(3000)),
        },
    ),
    "standup_modal": lambda: views(
        "standup_modal",
        {
            "client": typed(150),
            "day": DAY,
            "max_field": 1000,
            "prompt_id": 2**31,
            "answer": NS(
                yesterday=typed(1000), today=typed(1000), blockers=typed(1000), health="red"
            ),
        },
        {"client": typed(150), "day": DAY, "max_field": 1000, "prompt_id": 1, "answer": None},
    ),
    "standup_prompt": lambda: messages(
        "standup_prompt",
        *(
            {"v": prompt_view(kind, closed)}
            for kind, closed in (("daily", False), ("daily", True), ("weekly", True))
        ),
    ),
    "standup_reminder": lambda: messages(
        "standup_reminder", {"client": CLIENT, "prompt": NS(day=DAY), "closes": "midnight"}
    ),
    "standup_report": lambda: messages(
        "standup_report",
        {
            "report": NS(
                client=CLIENT,
                first=DAY,
                last=DAY,
                held=999,
                missed=999,
                answered=999,
                expected=999,
                blockers=999,
                lines=[
                    NS(
                        kind=k,
                        day=DAY,
                        note=typed(200),
                        status=s,
                        health="red",
                        answered=30,
                        expected=30,
                        blockers=30,
                    )
                    for k, s in (("off", "posted"), ("weekly", "missed"), ("daily", "open")) * 40
                ],
                criteria=CRITERIA,
            )
        },
    ),
    "standup_status": lambda: messages(
        "standup_status",
        *(
            {
                "status": NS(
                    client=CLIENT,
                    care=NS(stage_name=typed(100)),
                    row=NS(status=status, end_date=DAY, paused=True),
                    standup_time=dt.time(23, 59),
                    cutoff=dt.time(23, 59),
                    reminder_minutes=1439,
                    responders=users(60),
                    default_responders=True,
                    upcoming=[(NS(kind=k), WHEN) for k in ("daily", "weekly") * 4],
                    days_off=[NS(day=DAY, reason=typed(200))] * 20,
                    away=[NS(user_id=u, first_day=DAY, last_day=DAY) for u in users(20)],
                    criteria=CRITERIA,
                    reviewer="U0ALICE000",
                    next_review=DAY,
                )
            }
            for status in ("pending", "active", "exited", "left")
        ),
    ),
    "status": lambda: messages(
        "status",
        {"p": PROGRESS},
        # Every task open, unassigned and overdue: each line at its longest, its role in full,
        # and gates with keys as long as the playbook allows.
        {
            "p": NS(
                **{
                    **vars(PROGRESS),
                    "tasks": OPEN_TASKS,
                    "overdue": OPEN_TASKS,
                    "gates": [(LONGEST_KEY, GATE.name, "failed")] * 20,
                }
            )
        },
        {"p": NS(**{**vars(PROGRESS), "tasks": [], "overdue": [], "next_task": None})},
    ),
    "survey": lambda: messages(
        "survey",
        *(
            {
                "client": CLIENT,
                "survey": NS(id=2**31, occasion=occasion, closes_at=WHEN),
                "answered": 999,
                "closed": closed,
            }
            for occasion in ("hypercare", "completion")
            for closed in (False, True)
        ),
    ),
    "survey_comment_modal": lambda: views(
        "survey_comment_modal", {"survey_id": 2**31, "score": 10, "comment": typed(3000)}
    ),
    "survey_low": lambda: messages(
        "survey_low", {"client": CLIENT, "score": 0, "who": "U0CARLA000"}
    ),
    "task_reminder": lambda: messages(
        "task_reminder",
        *(
            {
                "client": CLIENT,
                "tasks": [
                    # Every assignee has left: each line says so.
                    NS(task=t, kind=k, late=365, assignee_left=bool(t.assignee))
                    for t, k in zip(TASKS[:n], ("due", "overdue") * 30, strict=False)
                ],
            }
            for n in (1, 60)
        ),
    ),
    "welcome": lambda: messages(
        "welcome",
        {
            "client": CLIENT,
            "playbook": PLAYBOOK,
            "stage": STAGE,
            "team": users(60),
        },
    ),
}


def test_every_template_has_a_worst_case() -> None:
    names = {n.removesuffix(".json.j2") for n in environment().list_templates(extensions=["j2"])}
    assert sorted(names - INCLUDED) == sorted(CASES)


@pytest.mark.parametrize("template", sorted(CASES))
def test_a_template_fed_its_longest_input_renders_what_slack_takes(template: str) -> None:
    for rendered in CASES[template]():  # render_* raise RenderError on anything Slack refuses
        if "blocks" in rendered and rendered.get("type") in ("modal", "home"):
            assert view_problems(rendered) == []
        elif "blocks" in rendered:
            assert block_problems(rendered["blocks"]) == []
            assert len(rendered["blocks"]) <= 50


def test_a_hypercare_window_without_exit_criteria_ends_without_naming_any() -> None:
    # A playbook may give hypercare no exit criteria: the message must not list "open" ones.
    message = render_message(
        "hypercare_overrun",
        client=CLIENT,
        care=NS(rules=NS(days=30)),
        criteria=[],
        row=NS(end_date=DAY),
    )
    assert "exit criteria open" not in message["text"]
    assert "sets no exit criteria" in message["blocks"][0]["text"]["text"]
    passed_and_open = [("a", "Runbook", "passed"), ("b", "SLA met", "open")]
    listed = render_message(
        "hypercare_overrun",
        client=CLIENT,
        care=NS(rules=NS(days=30)),
        criteria=passed_and_open,
        row=NS(end_date=DAY),
    )["blocks"][0]["text"]["text"]
    assert "SLA met" in listed and "Runbook" not in listed


def test_a_long_list_of_approvers_says_how_many_more_there_are() -> None:
    shown = render_message("approvers", client=CLIENT, approvers=users(45))
    text = shown["blocks"][0]["text"]["text"]
    assert text.count("<@") == 40 and text.endswith(" and 5 more")
