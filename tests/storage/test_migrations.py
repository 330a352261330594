"""An operator upgrades the database: the migrations build exactly the schema the code expects."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from onboard.storage.db import Database
from onboard.storage.models import Base
from onboard.storage.schema import upgrade


def test_migrations_match_the_models(database_url: str) -> None:
    db = Database(database_url)
    upgrade(db)
    upgrade(db)  # a second upgrade is a no-op
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
