"""Storage: SQLAlchemy models, the engine, the audit chain, the outbox and migrations.

Nothing here imports from the layers above it.
"""
