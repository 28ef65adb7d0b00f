"""The inventory's tables, as SQLAlchemy 2 typed declarative models.

What describes the site: nodes (roles, one address per network, the BMC), cells (kind,
members with their node ids and votes, heartbeat networks in ring order, the quorum
disk, fence devices, services made of resources), and the tables the Lustre and NFS
domains read (file systems, targets with their primary/secondary/active node, exports).
What the cells said: where each service ran, and when (`service_locations`).

No column holds a secret: a BMC or fence device names the file its password is in.
The schema itself is created and changed only by the Alembic migrations beside this
module (tandem.inventory.migrations); a change here needs a new revision there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

CELL_KINDS = ("management", "nfs", "lustre", "generic")
TARGET_KINDS = ("mgt", "mdt", "ost")
FILESYSTEM_TYPES = ("lustre", "ext3", "ext4", "xfs")
NAME = 64  # node, cell, network, service names
PATH = 255

# Constraint names the same on SQLite and PostgreSQL, so that migrations can name them.
NAMING = {"pk": "pk_%(table_name)s", "fk": "fk_%(table_name)s_%(column_0_name)s",
          "uq": "uq_%(table_name)s_%(column_0_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s",
          "ix": "ix_%(table_name)s_%(column_0_name)s"}


def _kinds(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Node(Base):
    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    roles: Mapped[list[NodeRole]] = relationship(
        cascade="all, delete-orphan", order_by="NodeRole.role")
    addresses: Mapped[list[Address]] = relationship(
        cascade="all, delete-orphan", order_by="Address.network")
    bmc: Mapped[Bmc | None] = relationship(cascade="all, delete-orphan")
    membership: Mapped[CellMember | None] = relationship(back_populates="node")


class NodeRole(Base):
    __tablename__ = "node_roles"

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"),
                                         primary_key=True)
    role: Mapped[str] = mapped_column(String(NAME), primary_key=True)


class Address(Base):
    """A node's interface on one network and its static address (ADDR/PREFIX)."""

    __tablename__ = "addresses"

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"),
                                         primary_key=True)
    network: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    interface: Mapped[str] = mapped_column(String(NAME))
    address: Mapped[str] = mapped_column(String(NAME))


class Bmc(Base):
    """How to reach a node's BMC; the password stays in `password_file`."""

    __tablename__ = "bmcs"

    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"),
                                         primary_key=True)
    address: Mapped[str] = mapped_column(String(NAME))
    port: Mapped[int] = mapped_column(Integer, default=623)
    user: Mapped[str] = mapped_column(String(NAME), default="admin")
    password_file: Mapped[str | None] = mapped_column(String(PATH))


class Cell(Base):
    """A cell and what its generated configuration was last (text, version, hash)."""

    __tablename__ = "cells"
    __table_args__ = (CheckConstraint(_kinds("kind", CELL_KINDS), name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    key_file: Mapped[str] = mapped_column(String(PATH), default="/etc/tandem/cluster.key")
    port: Mapped[int | None] = mapped_column(Integer)
    heartbeat_ms: Mapped[int | None] = mapped_column(Integer)
    token_ms: Mapped[int | None] = mapped_column(Integer)
    wait_for_all: Mapped[bool | None]
    fence_delay_ms: Mapped[int] = mapped_column(Integer, default=3000)
    qdisk: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    config_version: Mapped[int] = mapped_column(Integer, default=0)
    config_hash: Mapped[str] = mapped_column(String(64), default="")
    config_text: Mapped[str] = mapped_column(Text, default="")
    members: Mapped[list[CellMember]] = relationship(
        back_populates="cell", cascade="all, delete-orphan", order_by="CellMember.nodeid")
    heartbeats: Mapped[list[Heartbeat]] = relationship(
        cascade="all, delete-orphan", order_by="Heartbeat.ring")
    fence_devices: Mapped[list[FenceDevice]] = relationship(
        cascade="all, delete-orphan", order_by="[FenceDevice.level, FenceDevice.name]")
    services: Mapped[list[Service]] = relationship(
        cascade="all, delete-orphan", order_by="Service.name")
    exports: Mapped[list[Export]] = relationship(
        cascade="all, delete-orphan", order_by="Export.path")
    locations: Mapped[list[ServiceLocation]] = relationship(
        cascade="all, delete-orphan", order_by="ServiceLocation.service")


class CellMember(Base):
    """A node in a cell: a node is in one cell at most (the unique node_id)."""

    __tablename__ = "cell_members"
    __table_args__ = (UniqueConstraint("cell_id", "nodeid"),)

    cell_id: Mapped[int] = mapped_column(ForeignKey("cells.id", ondelete="CASCADE"),
                                         primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="RESTRICT"),
                                         primary_key=True, unique=True)
    nodeid: Mapped[int] = mapped_column(Integer)  # the node's id in the cell's config
    votes: Mapped[int] = mapped_column(Integer, default=1)
    cell: Mapped[Cell] = relationship(back_populates="members")
    node: Mapped[Node] = relationship(back_populates="membership")


class Heartbeat(Base):
    """A heartbeat network of a cell; ring 0 first."""

    __tablename__ = "cell_heartbeats"
    __table_args__ = (UniqueConstraint("cell_id", "network"),)

    cell_id: Mapped[int] = mapped_column(ForeignKey("cells.id", ondelete="CASCADE"),
                                         primary_key=True)
    ring: Mapped[int] = mapped_column(Integer, primary_key=True)
    network: Mapped[str] = mapped_column(String(NAME))


class FenceDevice(Base):
    """A fence device of a cell. Every member is fenced through the devices level by
    level (devices of one level together); an `ipmi` device without an address uses
    the fenced node's own BMC."""

    __tablename__ = "fence_devices"
    __table_args__ = (UniqueConstraint("cell_id", "name"),
                      CheckConstraint("type IN ('ipmi', 'external', 'manual')", name="type"))

    id: Mapped[int] = mapped_column(primary_key=True)
    cell_id: Mapped[int] = mapped_column(ForeignKey("cells.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME))
    level: Mapped[int] = mapped_column(Integer, default=1)
    type: Mapped[str] = mapped_column(String(16))
    agent: Mapped[str | None] = mapped_column(String(NAME))
    options: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    address: Mapped[str | None] = mapped_column(String(NAME))
    port: Mapped[int | None] = mapped_column(Integer)
    user: Mapped[str | None] = mapped_column(String(NAME))
    password_file: Mapped[str | None] = mapped_column(String(PATH))
    delay_ms: Mapped[int] = mapped_column(Integer, default=0)
    timeout_s: Mapped[float] = mapped_column(Float, default=20.0)


class Service(Base):
    """A service of a cell; `domain` is [[node, priority], ...] in order of preference."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("cell_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cell_id: Mapped[int] = mapped_column(ForeignKey("cells.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME))
    autostart: Mapped[bool] = mapped_column(default=True)
    recovery: Mapped[str] = mapped_column(String(16), default="restart")
    max_restarts: Mapped[int] = mapped_column(Integer, default=3)
    restart_window_s: Mapped[float] = mapped_column(Float, default=300.0)
    domain: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    restricted: Mapped[bool] = mapped_column(default=False)
    failback: Mapped[bool] = mapped_column(default=False)
    failback_delay_s: Mapped[float] = mapped_column(Float, default=0.0)
    resources: Mapped[list[Resource]] = relationship(
        cascade="all, delete-orphan", order_by="Resource.position")


class Resource(Base):
    """One resource of a service, started in `position` order, with its parameters."""

    __tablename__ = "resources"
    __table_args__ = (UniqueConstraint("service_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(NAME))
    agent: Mapped[str] = mapped_column(String(NAME))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    monitor_interval_s: Mapped[float] = mapped_column(Float, default=10.0)
    timeouts: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)


class ServiceLocation(Base):
    """Where a cell said one of its services ran, and when (wall clock, seconds)."""

    __tablename__ = "service_locations"

    cell_id: Mapped[int] = mapped_column(ForeignKey("cells.id", ondelete="CASCADE"),
                                         primary_key=True)
    service: Mapped[str] = mapped_column(String(NAME), primary_key=True)
    node: Mapped[str | None] = mapped_column(String(NAME))
    state: Mapped[str] = mapped_column(String(32))
    seen_at: Mapped[float] = mapped_column(Float)


class Filesystem(Base):
    """A file system served by the site's cells (Lustre, or a local one exported by an
    NFS cell: device and mount point)."""

    __tablename__ = "filesystems"
    __table_args__ = (CheckConstraint(_kinds("type", FILESYSTEM_TYPES), name="type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    cell_id: Mapped[int | None] = mapped_column(ForeignKey("cells.id", ondelete="SET NULL"))
    device: Mapped[str | None] = mapped_column(String(PATH))
    mount_point: Mapped[str | None] = mapped_column(String(PATH))
    cell: Mapped[Cell | None] = relationship()
    targets: Mapped[list[Target]] = relationship(
        back_populates="filesystem", cascade="all, delete-orphan", order_by="Target.name")


class Target(Base):
    """A Lustre target (MGT, MDT, OST): the nodes that may serve it and the one that
    does (kept up to date by failover)."""

    __tablename__ = "targets"
    __table_args__ = (UniqueConstraint("filesystem_id", "name"),
                      CheckConstraint(_kinds("kind", TARGET_KINDS), name="kind"))

    id: Mapped[int] = mapped_column(primary_key=True)
    filesystem_id: Mapped[int] = mapped_column(ForeignKey("filesystems.id",
                                                          ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME))
    kind: Mapped[str] = mapped_column(String(8))
    device: Mapped[str] = mapped_column(String(PATH))
    primary_id: Mapped[int] = mapped_column(ForeignKey("nodes.id", ondelete="RESTRICT"))
    secondary_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id",
                                                                ondelete="RESTRICT"))
    active_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id", ondelete="SET NULL"))
    filesystem: Mapped[Filesystem] = relationship(back_populates="targets")
    primary: Mapped[Node] = relationship(foreign_keys=[primary_id])
    secondary: Mapped[Node | None] = relationship(foreign_keys=[secondary_id])
    active: Mapped[Node | None] = relationship(foreign_keys=[active_id])


class Export(Base):
    """A directory an NFS cell exports (the /etc/exports line it needs)."""

    __tablename__ = "exports"
    __table_args__ = (UniqueConstraint("cell_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cell_id: Mapped[int] = mapped_column(ForeignKey("cells.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(PATH))
    clients: Mapped[str] = mapped_column(String(PATH), default="*")
    options: Mapped[str] = mapped_column(String(PATH), default="rw,sync")
    fsid: Mapped[int | None] = mapped_column(Integer)
    filesystem_id: Mapped[int | None] = mapped_column(ForeignKey("filesystems.id",
                                                                 ondelete="SET NULL"))
    filesystem: Mapped[Filesystem | None] = relationship()
