"""The first inventory schema: nodes, cells, fencing, services, where services ran, and
the Lustre and NFS tables.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

NAME = sa.String(64)
PATH = sa.String(255)


def _node_fk(column: str, *, nullable: bool = False, ondelete: str = "RESTRICT") -> sa.Column[int]:
    return sa.Column(column, sa.Integer, sa.ForeignKey("nodes.id", ondelete=ondelete),
                     nullable=nullable)


def _cell_fk(*, primary_key: bool = False) -> sa.Column[int]:
    return sa.Column("cell_id", sa.Integer, sa.ForeignKey("cells.id", ondelete="CASCADE"),
                     nullable=False, primary_key=primary_key)


def _node_tables() -> None:
    op.create_table("nodes",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", NAME, nullable=False, unique=True))
    op.create_table("node_roles",
                    sa.Column("node_id", sa.Integer, sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                              primary_key=True),
                    sa.Column("role", NAME, primary_key=True))
    op.create_table("addresses",
                    sa.Column("node_id", sa.Integer, sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                              primary_key=True),
                    sa.Column("network", NAME, primary_key=True),
                    sa.Column("interface", NAME, nullable=False),
                    sa.Column("address", NAME, nullable=False))
    op.create_table("bmcs",
                    sa.Column("node_id", sa.Integer, sa.ForeignKey("nodes.id", ondelete="CASCADE"),
                              primary_key=True),
                    sa.Column("address", NAME, nullable=False),
                    sa.Column("port", sa.Integer, nullable=False),
                    sa.Column("user", NAME, nullable=False),
                    sa.Column("password_file", PATH, nullable=True))


def _cell_tables() -> None:
    op.create_table(
        "cells",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", NAME, nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key_file", PATH, nullable=False),
        sa.Column("port", sa.Integer, nullable=True),
        sa.Column("heartbeat_ms", sa.Integer, nullable=True),
        sa.Column("token_ms", sa.Integer, nullable=True),
        sa.Column("wait_for_all", sa.Boolean, nullable=True),
        sa.Column("fence_delay_ms", sa.Integer, nullable=False),
        sa.Column("qdisk", sa.JSON, nullable=True),
        sa.Column("config_version", sa.Integer, nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("config_text", sa.Text, nullable=False),
        sa.CheckConstraint("kind IN ('management', 'nfs', 'lustre', 'generic')", name="kind"))
    op.create_table(
        "cell_members",
        _cell_fk(primary_key=True),
        sa.Column("node_id", sa.Integer, sa.ForeignKey("nodes.id", ondelete="RESTRICT"),
                  primary_key=True, unique=True),
        sa.Column("nodeid", sa.Integer, nullable=False),
        sa.Column("votes", sa.Integer, nullable=False),
        sa.UniqueConstraint("cell_id", "nodeid"))
    op.create_table(
        "cell_heartbeats",
        _cell_fk(primary_key=True),
        sa.Column("ring", sa.Integer, primary_key=True),
        sa.Column("network", NAME, nullable=False),
        sa.UniqueConstraint("cell_id", "network"))
    op.create_table(
        "fence_devices",
        sa.Column("id", sa.Integer, primary_key=True),
        _cell_fk(),
        sa.Column("name", NAME, nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("agent", NAME, nullable=True),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("address", NAME, nullable=True),
        sa.Column("port", sa.Integer, nullable=True),
        sa.Column("user", NAME, nullable=True),
        sa.Column("password_file", PATH, nullable=True),
        sa.Column("delay_ms", sa.Integer, nullable=False),
        sa.Column("timeout_s", sa.Float, nullable=False),
        sa.UniqueConstraint("cell_id", "name"),
        sa.CheckConstraint("type IN ('ipmi', 'external', 'manual')", name="type"))


def _service_tables() -> None:
    op.create_table(
        "services",
        sa.Column("id", sa.Integer, primary_key=True),
        _cell_fk(),
        sa.Column("name", NAME, nullable=False),
        sa.Column("autostart", sa.Boolean, nullable=False),
        sa.Column("recovery", sa.String(16), nullable=False),
        sa.Column("max_restarts", sa.Integer, nullable=False),
        sa.Column("restart_window_s", sa.Float, nullable=False),
        sa.Column("domain", sa.JSON, nullable=False),
        sa.Column("restricted", sa.Boolean, nullable=False),
        sa.Column("failback", sa.Boolean, nullable=False),
        sa.Column("failback_delay_s", sa.Float, nullable=False),
        sa.UniqueConstraint("cell_id", "name"))
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("agent", NAME, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("monitor_interval_s", sa.Float, nullable=False),
        sa.Column("timeouts", sa.JSON, nullable=False),
        sa.UniqueConstraint("service_id", "name"))
    op.create_table(
        "service_locations",
        _cell_fk(primary_key=True),
        sa.Column("service", NAME, primary_key=True),
        sa.Column("node", NAME, nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("seen_at", sa.Float, nullable=False))


def _storage_tables() -> None:
    op.create_table(
        "filesystems",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", NAME, nullable=False, unique=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("cell_id", sa.Integer, sa.ForeignKey("cells.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("device", PATH, nullable=True),
        sa.Column("mount_point", PATH, nullable=True),
        sa.CheckConstraint("type IN ('lustre', 'ext3', 'ext4', 'xfs')", name="type"))
    op.create_table(
        "targets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("filesystem_id", sa.Integer,
                  sa.ForeignKey("filesystems.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("device", PATH, nullable=False),
        _node_fk("primary_id"),
        _node_fk("secondary_id", nullable=True),
        _node_fk("active_id", nullable=True, ondelete="SET NULL"),
        sa.UniqueConstraint("filesystem_id", "name"),
        sa.CheckConstraint("kind IN ('mgt', 'mdt', 'ost')", name="kind"))
    op.create_table(
        "exports",
        sa.Column("id", sa.Integer, primary_key=True),
        _cell_fk(),
        sa.Column("path", PATH, nullable=False),
        sa.Column("clients", PATH, nullable=False),
        sa.Column("options", PATH, nullable=False),
        sa.Column("fsid", sa.Integer, nullable=True),
        sa.Column("filesystem_id", sa.Integer,
                  sa.ForeignKey("filesystems.id", ondelete="SET NULL"), nullable=True),
        sa.UniqueConstraint("cell_id", "path"))


def upgrade() -> None:
    _node_tables()
    _cell_tables()
    _service_tables()
    _storage_tables()


def downgrade() -> None:
    for table in ("exports", "targets", "filesystems", "service_locations", "resources",
                  "services", "fence_devices", "cell_heartbeats", "cell_members", "cells",
                  "bmcs", "addresses", "node_roles", "nodes"):
        op.drop_table(table)
