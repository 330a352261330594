"""Answering a stand-up: the update modal's contents, the answer saved and posted in the prompt's
thread, and Red health or a new blocker escalated to the account manager at once (in the
thread, if Slack will not take the account manager's DM).

Only open daily stand-ups take answers; after the cut-off people reply in the thread instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onboard.bot import outbound
from onboard.bot.errors import InvalidInput, NotAllowed, NotFound
from onboard.bot.standups import records
from onboard.bot.standups.care import Cares
from onboard.bot.standups.live_message import MESSAGE, prompt_key
from onboard.bot.standups.reports import HEALTH
from onboard.bot.standups.schedule import DAILY, closes_at, closing_label
from onboard.messages.render import render_message
from onboard.storage import audit, outbox
from onboard.storage.db import Database
from onboard.storage.models import Client, Hypercare, StandupAnswer, StandupPrompt

MAX_FIELD = 1000  # characters per answer field: three fit one thread reply with room to spare


@dataclass(frozen=True)
class Answering:
    """Takes people's updates to open stand-ups."""

    db: Database
    clock: Callable[[], dt.datetime]
    wake: Callable[[], None]
    cares: Cares
    admins: tuple[str, ...] = ()  # told when the account manager cannot be, or is the one

    def answer_form(
        self, prompt_id: int, channel_id: str | None, user: str, message_ts: str | None = None
    ) -> dict[str, Any]:
        """What the update modal needs, once the click is known to be about an open stand-up
        of the channel it was made in (only the channel's members see the button)."""
        now = self.clock()
        with self.db.transaction() as session:
            prompt, client = self._open_prompt(session, prompt_id, now)
            if channel_id is not None and channel_id != client.channel_id:
                raise NotAllowed("This stand-up belongs to another channel.")
            _refuse_unless_asked(prompt, user)
            if prompt.message_ts is None and message_ts:
                prompt.message_ts = message_ts  # its post's answer was lost; Slack says where
            mine = session.scalars(
                select(StandupAnswer).where(
                    StandupAnswer.prompt_id == prompt.id, StandupAnswer.user_id == user
                )
            ).first()
            return {
                "prompt_id": prompt.id,
                "client": client.name,
                "day": prompt.day,
                "answer": mine,
                "max_field": MAX_FIELD,
            }

    def answer(self, prompt_id: int, form: dict[str, Any], cause: audit.Cause) -> StandupAnswer:
        """Record an update and post it in the prompt's thread; health turning Red, or a new
        blocker, tells the account manager at once."""
        fields = _valid_answer(form)
        now = self.clock()
        with self.db.transaction() as session:
            prompt, client = self._open_prompt(session, prompt_id, now, lock=True)
            _refuse_unless_asked(prompt, cause.actor)
            if prompt.message_ts is None:
                raise NotFound("The stand-up is still being posted: try again in a minute.")
            mine = session.scalars(
                select(StandupAnswer).where(
                    StandupAnswer.prompt_id == prompt.id, StandupAnswer.user_id == cause.actor
                )
            ).first()
            before = (mine.health, mine.blockers) if mine else None
            if mine is None:
                mine = StandupAnswer(prompt_id=prompt.id, user_id=cause.actor, revision=1)
                session.add(mine)
            else:
                mine.revision += 1
            for name, value in fields.items():
                setattr(mine, name, value)
            mine.answered_at = now
            session.flush()
            key = f"{prompt_key(client.id, prompt.day, DAILY)}:answer:{cause.actor}:{mine.revision}"
            assert client.channel_id is not None
            outbound.enqueue_call(
                session,
                key,
                "chat.postMessage",
                {
                    "channel": client.channel_id,
                    "thread_ts": prompt.message_ts,
                    **render_message("standup_answer", answer=mine),
                },
                client_id=client.id,
                audit_action="standup.answer_posted",
                audit_details={"user": cause.actor, "revision": mine.revision},
                not_before=now,
            )
            outbox.enqueue(
                session,
                f"{key}:refresh",
                MESSAGE,
                {"prompt_id": prompt.id},
                client_id=client.id,
                now=now,
            )
            if _newly_alarming(before, mine):
                _escalate(session, client, prompt, mine, f"{key}:escalate", now, self.admins)
            audit.record(
                session,
                cause,
                "standup.answered",
                client_id=client.id,
                subject=prompt_key(client.id, prompt.day, DAILY),
                details={
                    "health": mine.health,
                    "blockers": bool(mine.blockers),
                    "revision": mine.revision,
                },
                at=now,
            )
        self.wake()
        return mine

    def _open_prompt(
        self, session: Session, prompt_id: int, now: dt.datetime, *, lock: bool = False
    ) -> tuple[StandupPrompt, Client]:
        query = select(StandupPrompt).where(StandupPrompt.id == prompt_id)
        prompt = session.scalars(query.with_for_update() if lock else query).first()
        if prompt is None or prompt.kind != DAILY:
            raise NotFound("That stand-up no longer exists.")
        client = records.client(session, prompt.client_id)
        row = session.scalars(select(Hypercare).where(Hypercare.client_id == client.id)).one()
        care = self.cares.of(client)
        if prompt.status != "open" or now >= closes_at(
            row, care, records.calendar_with_days_off(session, client), prompt
        ):
            raise NotAllowed(
                f"The stand-up of {prompt.day:%A %-d %B} closed at {closing_label(row, care)}: "
                "reply in its thread instead."
            )
        return prompt, client


def _valid_answer(form: dict[str, Any]) -> dict[str, Any]:
    """The modal's fields, cleaned; each problem named under its own field."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "yesterday": str(form.get("yesterday") or "").strip(),
        "today": str(form.get("today") or "").strip(),
        "blockers": str(form.get("blockers") or "").strip() or None,
        "health": str(form.get("health") or ""),
    }
    if not values["yesterday"]:
        errors["yesterday"] = "Say what you did since the last stand-up."
    if not values["today"]:
        errors["today"] = "Say what you will do today."
    for name in ("yesterday", "today", "blockers"):
        if values[name] and len(values[name]) > MAX_FIELD:
            errors[name] = f"Keep it under {MAX_FIELD:,} characters."
    if values["health"] not in HEALTH:
        errors["health"] = "Choose Green, Amber or Red."
    if errors:
        raise InvalidInput(errors)
    return values


def _newly_alarming(before: tuple[str, str | None] | None, answer: StandupAnswer) -> bool:
    """Health just turned Red, or a blocker appeared where there was none. An edit that keeps
    Red, or rewords a blocker already reported (a typo fixed), raises no second alarm."""
    was_red = before is not None and before[0] == "red"
    had_blocker = before is not None and bool(before[1])
    return (answer.health == "red" and not was_red) or (bool(answer.blockers) and not had_blocker)


def _escalate(
    session: Session,
    client: Client,
    prompt: StandupPrompt,
    answer: StandupAnswer,
    key: str,
    now: dt.datetime,
    admins: Sequence[str],
) -> None:
    """Tell the account manager of Red health or a blocker now, not at the cut-off; the
    admins when the account manager is the one reporting it.

    If Slack refuses the DM (the account manager deactivated, say), the alarm goes to the
    stand-up's thread instead, naming the others it asks (the hypercare channel is where
    escalations happen, and the update it is about is already shown there), and to the admins.
    """
    details = {"user": answer.user_id, "health": answer.health}
    message = render_message("standup_escalation", client=client, prompt=prompt, answer=answer)
    told = [a for a in dict.fromkeys(admins) if a not in (client.account_manager, answer.user_id)]
    to_admins = [
        outbound.fallback(
            f"{key}:{admin}",
            "chat.postMessage",
            {"channel": admin, **message},
            audit_action="standup.escalated",
            audit_details={**details, "to": admin},
        )
        for admin in told
    ]
    if answer.user_id == client.account_manager:
        for call in to_admins:
            outbound.enqueue_call(session, **call, client_id=client.id, not_before=now)
        return
    others = [u for u in prompt.expected if u not in (client.account_manager, answer.user_id)]
    in_thread = render_message(
        "standup_escalation",
        client=client,
        prompt=prompt,
        answer=answer,
        unreached=client.account_manager,
        others=others,
    )
    assert client.channel_id is not None and prompt.message_ts is not None  # checked by answer()
    outbound.enqueue_call(
        session,
        key,
        "chat.postMessage",
        {"channel": client.account_manager, **message},
        client_id=client.id,
        audit_action="standup.escalated",
        audit_details=details,
        on_refused=[
            outbound.fallback(
                f"{key}:in-thread",
                "chat.postMessage",
                {"channel": client.channel_id, "thread_ts": prompt.message_ts, **in_thread},
                audit_action="standup.escalated_in_thread",
                audit_details=details,
            ),
            *to_admins,
        ],
        not_before=now,
    )


def _refuse_unless_asked(prompt: StandupPrompt, user: str) -> None:
    """Only the people the stand-up asks may answer it: anyone else in the channel (the
    client's people, a guest) would count in its summary and could raise a Red alarm."""
    if user not in prompt.expected:
        raise NotAllowed(
            "This stand-up asks its responders for updates, and you are not one of them. "
            "The account manager can add you with `/onboard standup who`."
        )
