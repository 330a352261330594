"""Alembic migrations of the bot's schema; `onboard db upgrade` applies them."""
