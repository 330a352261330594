"""Applies Alembic migrations to the configured database (`onboard db upgrade`, serve start-up).

On PostgreSQL an advisory lock makes replicas starting together migrate one at a time.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from onboard.storage.db import Database

_MIGRATE_LOCK = 0x0AD18


def alembic_config(db: Database) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("onboard.storage") / "migrations")
    )
    config.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    config = alembic_config(db)
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATE_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
