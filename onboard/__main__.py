"""Lets `python -m onboard` behave like the `onboard` console script."""

from onboard.bot.cli import main

main()
