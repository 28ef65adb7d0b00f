"""`tandem db remove`: taking things out of the inventory, refused (one line) while
something still depends on them: a node that is a cell member or serves a target, a
cell whose removal would leave a file system's targets without their pair."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tandem.inventory import models as m
from tandem.inventory.edit import find_cell, find_node
from tandem.inventory.errors import InventoryInvalid
from tandem.inventory.storage import find_filesystem

T = TypeVar("T", m.FenceDevice, m.Service, m.Resource, m.Target)

# What can be removed, and the names that designate one of it.
REMOVABLE = {"node": ("NAME",), "cell": ("NAME",), "fence": ("CELL", "NAME"),
             "service": ("CELL", "NAME"), "resource": ("CELL", "SERVICE", "NAME"),
             "filesystem": ("NAME",), "target": ("FILESYSTEM", "NAME"),
             "export": ("CELL", "PATH")}


def remove(session: Session, what: str, names: Sequence[str]) -> None:
    """Remove the `what` designated by `names` (see REMOVABLE)."""
    expected = REMOVABLE.get(what)
    if expected is None:
        raise InventoryInvalid(f"cannot remove a {what!r}: expected one of "
                               f"{', '.join(REMOVABLE)}")
    if len(names) != len(expected):
        raise InventoryInvalid(f"remove {what} takes {' '.join(expected)}")
    if what == "node":
        _remove_node(session, names[0])
    elif what == "cell":
        session.delete(find_cell(session, names[0]))
    elif what == "filesystem":
        session.delete(find_filesystem(session, names[0]))
    elif what == "target":
        fs = find_filesystem(session, names[0])
        fs.targets.remove(_named(fs.targets, names[1], f"target of {fs.name}"))
    else:
        _remove_cell_part(session, what, names)


def _remove_node(session: Session, name: str) -> None:
    node = find_node(session, name)
    if node.membership is not None:
        raise InventoryInvalid(f"node {name} is a member of cell {node.membership.cell.name}:"
                               f" change the cell's members first")
    serves = session.scalar(select(m.Target.name).where(or_(
        m.Target.primary_id == node.id, m.Target.secondary_id == node.id)))
    if serves is not None:
        raise InventoryInvalid(f"node {name} serves target {serves}: change the target first")
    session.delete(node)


def _remove_cell_part(session: Session, what: str, names: Sequence[str]) -> None:
    cell = find_cell(session, names[0])
    if what == "fence":
        cell.fence_devices.remove(_named(cell.fence_devices, names[1], "fence device"))
    elif what == "service":
        cell.services.remove(_named(cell.services, names[1], "service"))
    elif what == "resource":
        service = _named(cell.services, names[1], "service")
        service.resources.remove(_named(service.resources, names[2], "resource"))
        for index, resource in enumerate(service.resources):
            resource.position = index + 1
    else:
        export = next((e for e in cell.exports if e.path == names[1]), None)
        if export is None:
            raise InventoryInvalid(f"cell {cell.name} exports no {names[1]!r}")
        cell.exports.remove(export)


def _named(items: list[T], name: str, what: str) -> T:
    found = next((item for item in items if item.name == name), None)
    if found is None:
        known = ", ".join(item.name for item in items) or "none"
        raise InventoryInvalid(f"no {what} {name!r} (known: {known})")
    return found
