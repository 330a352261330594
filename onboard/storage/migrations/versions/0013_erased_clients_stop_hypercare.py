"""Clients erased before this upgrade stop their stand-ups and BAU service reviews too.

An erasure now marks the client's hypercare row "stopped" (review cadence cleared, open
stand-ups closed) and the sweeps pass such a client by. One erased earlier still has its row
as it was (or none): without this, its stand-ups, reminders and review reminders would go on,
and a completed client of a playbook without hypercare would even start BAU reviews now.
Data only: the schema is unchanged.

Revision ID: 0013
Revises: 0012
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ERASED_ACTION = "client.erased"  # onboard.bot.erasure's, copied: a migration stays as written


def upgrade() -> None:
    connection = op.get_bind()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    clients = sa.table("clients", sa.column("id", sa.Integer))
    events = sa.table(
        "audit_events", sa.column("client_id", sa.Integer), sa.column("action", sa.String)
    )
    hypercare = sa.table(
        "hypercare",
        sa.column("client_id", sa.Integer),
        sa.column("status", sa.String),
        sa.column("paused", sa.Boolean),
        sa.column("review_cadence", sa.String),
        sa.column("ended_at", sa.DateTime),
        sa.column("created_at", sa.DateTime),
    )
    prompts = sa.table(
        "standup_prompts",
        sa.column("client_id", sa.Integer),
        sa.column("status", sa.String),
        sa.column("closed_at", sa.DateTime),
    )
    erased = (
        sa.select(clients.c.id)
        .where(
            sa.exists().where(events.c.client_id == clients.c.id, events.c.action == ERASED_ACTION)
        )
        .scalar_subquery()
    )
    connection.execute(
        hypercare.insert().from_select(
            ["client_id", "status", "paused", "created_at"],
            sa.select(clients.c.id, sa.literal("stopped"), sa.false(), sa.literal(now)).where(
                clients.c.id.in_(erased),
                ~sa.exists().where(hypercare.c.client_id == clients.c.id),
            ),
        )
    )
    connection.execute(
        hypercare.update()
        .where(hypercare.c.client_id.in_(erased), hypercare.c.status == "active")
        .values(ended_at=now)
    )
    connection.execute(
        hypercare.update()
        .where(hypercare.c.client_id.in_(erased))
        .values(status="stopped", review_cadence=None)
    )
    connection.execute(
        prompts.update()
        .where(prompts.c.client_id.in_(erased), prompts.c.status == "open")
        .values(status="closed", closed_at=now)
    )


def downgrade() -> None:
    # What each erased client's hypercare was is not kept, and stopped is what an erasure
    # wants: nothing to undo, the rows stay stopped.
    pass
