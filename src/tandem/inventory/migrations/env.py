"""Alembic's entry point: runs the migrations on the connection that
tandem.inventory.database hands over (never from a URL of its own). Importing it
outside a migration (a scan of the package) does nothing."""

from __future__ import annotations

from alembic import context

from tandem.inventory.models import Base


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if hasattr(context, "config"):  # only while Alembic runs an upgrade
    run_migrations()
