"""The periodic sweeps: each a few lines asking a service what is due as of a moment.

`onboard jobs run NAME --at TIME` runs the same function the scheduler runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from onboard.bot.cards import refresh_daily
from onboard.bot.erasure import apply_retention
from onboard.bot.surveys import hypercare_sweep

if TYPE_CHECKING:
    from onboard.bot.app import Onboard


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: int
    what: str
    run: Callable[[Onboard, dt.datetime], int]  # returns how many sends it queued


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job(
            "task-reminders",
            300,
            "remind owners of tasks due today and overdue",
            lambda bot, at: bot.nudges.tasks(at),
        ),
        Job(
            "approval-nudges",
            900,
            "nudge approvers of sign-offs waiting too long",
            lambda bot, at: bot.nudges.approvals(at),
        ),
        Job(
            "archive-offers",
            3600,
            "offer to archive channels of completed clients",
            lambda bot, at: bot.nudges.archive_offers(at),
        ),
        Job(
            "intake-reminders",
            900,
            "post intakes their stage waits for; nudge unfinished ones (channel, DM, support call)",
            lambda bot, at: bot.intake.sweep(at),
        ),
        Job(
            "retention",
            86400,
            "erase personal data of completed clients past ONBOARD_RETENTION_DAYS",
            lambda bot, at: len(
                apply_retention(bot.db, bot.settings.retention_days, at)
                if bot.settings.retention_days
                else []
            ),
        ),
        Job(
            "surveys",
            3600,
            "post the hypercare satisfaction survey in the window's last week",
            lambda bot, at: hypercare_sweep(
                bot.db,
                at,
                bot.standups.cares.surveyed_stages,
                reminder_hour=bot.settings.reminder_hour,
            ),
        ),
        Job(
            "weekly-digest",
            600,
            "DM each manager the weekly digest, Monday 08:00 in their timezone",
            lambda bot, at: bot.digest.sweep(at),
        ),
        Job(
            "standups",
            60,
            "hypercare: stand-up prompts, one reminder, cut-off summaries, weekly reviews, exit",
            lambda bot, at: bot.standups.sweep(at),
        ),
        Job(
            "card-refresh",
            900,
            "refresh each active client's pinned card once a day, after its local midnight",
            lambda bot, at: refresh_daily(bot.db, at),
        ),
        Job(
            "service-reviews",
            900,
            "remind the service delivery manager of BAU service reviews due",
            lambda bot, at: bot.standups.service_reviews(at),
        ),
    )
}
