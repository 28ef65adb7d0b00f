"""Alembic migrations of the inventory schema, run by `tandem db init` (no alembic.ini:
tandem.inventory.database configures Alembic in code). A change to
tandem.inventory.models needs a new revision in versions/ and a new
`tandem.inventory.database.HEAD`; a test compares the migrated schema with the models."""
