"""Hypercare: stand-up prompts, answers, reminders, cut-off summaries, weekly and BAU reviews.

Sweeps run "as of" a moment; each send is keyed (`standup:<client>:<date>`): re-runs add nothing.
The app, handlers and jobs use `Standups`; the modules below each own one part of it.
"""

from onboard.bot.standups.care import Care
from onboard.bot.standups.live_message import MESSAGE, PromptView, make_executor, prompt_key
from onboard.bot.standups.pacing import PacedGateway, Pacer
from onboard.bot.standups.reports import DayLine, Report, Status
from onboard.bot.standups.schedule import (
    DAILY,
    WEEKLY,
    Slot,
    add_months,
    calendar_for,
    parse_clock,
    review_dates,
    slots,
)
from onboard.bot.standups.service import Standups

__all__ = [
    "DAILY",
    "MESSAGE",
    "WEEKLY",
    "Care",
    "DayLine",
    "PacedGateway",
    "Pacer",
    "PromptView",
    "Report",
    "Slot",
    "Standups",
    "Status",
    "add_months",
    "calendar_for",
    "make_executor",
    "parse_clock",
    "prompt_key",
    "review_dates",
    "slots",
]
