"""Alembic environment: always run with a connection handed in by storage.engine.migrate."""

from alembic import context

from storage.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when someone runs the alembic CLI by hand
    raise SystemExit("Run migrations through `concierge` (storage.engine.migrate), not the alembic CLI.")

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
