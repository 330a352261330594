"""onboard: a Slack bot that runs client onboarding for agencies and MSPs.

The package holds the bot's layers (handlers, bot, schedules, storage, messages) and its data.
"""

__version__ = "0.1.0"
