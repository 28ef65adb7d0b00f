"""Changes to what a cell is made of beyond its members: fence devices, services and
their resources (`tandem db set fence|service|resource`). Checked before they are
made (InventoryInvalid, one line); agents and parameters are checked by the loader
when the cell is generated at the end of the change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from tandem.config.model import RECOVERIES
from tandem.config.services import NAME_RE as SERVICE_RE
from tandem.inventory import models as m
from tandem.inventory.edit import NO_SECRETS, check_ip, check_name, find_cell, known_nodes
from tandem.inventory.errors import InventoryInvalid

FENCE_TYPES = ("ipmi", "external", "manual")
SECRET_WORDS = ("password", "passwd", "secret")


def is_secret(key: str) -> bool:
    """Does an option's name say it holds a secret?"""
    return any(word in key.lower() for word in SECRET_WORDS)


# -- fence devices -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FenceChange:
    """What `db set fence CELL NAME` changes."""

    type: str | None = None
    level: int | None = None
    agent: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    address: str | None = None
    port: int | None = None
    user: str | None = None
    password_file: str | None = None
    delay_ms: int | None = None
    timeout_s: float | None = None


def set_fence(session: Session, cell_name: str, name: str, change: FenceChange) -> bool:
    """Create or update a fence device of a cell; True if created."""
    cell = find_cell(session, cell_name)
    check_name(name, "fence device name")
    if change.type is not None and change.type not in FENCE_TYPES:
        raise InventoryInvalid(f"fence device type {change.type!r}: expected one of "
                               f"{', '.join(FENCE_TYPES)}")
    secrets = [k for k in change.options if is_secret(k)]
    if secrets:
        raise InventoryInvalid(f"fence option {secrets[0]!r}: {NO_SECRETS} "
                               f"(--password-file)")
    if change.level is not None and change.level < 1:
        raise InventoryInvalid(f"fence level {change.level}: levels count from 1")
    device = next((d for d in cell.fence_devices if d.name == name), None)
    created = device is None
    if device is None:
        if change.type is None:
            raise InventoryInvalid(f"fence device {name} of {cell_name} is new: give its "
                                   f"--type ({', '.join(FENCE_TYPES)})")
        device = m.FenceDevice(name=name, type=change.type, level=1, options={}, delay_ms=0,
                               timeout_s=20.0)
        cell.fence_devices.append(device)
    if change.address is not None:
        device.address = check_ip(change.address, "fence device address")
    for attr in ("type", "level", "agent", "port", "user", "password_file", "delay_ms",
                 "timeout_s"):
        value = getattr(change, attr)
        if value is not None:
            setattr(device, attr, value)
    if change.options:
        device.options = {**device.options, **change.options}
    return created


# -- services ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceChange:
    """What `db set service CELL NAME` changes; `domain` is a node set, in order of
    preference (priorities 1, 2, ...)."""

    domain: str | None = None
    autostart: bool | None = None
    recovery: str | None = None
    max_restarts: int | None = None
    restricted: bool | None = None
    failback: bool | None = None
    resources: tuple[tuple[str, str], ...] = ()  # (name, agent) added at the end if new


def set_service(session: Session, cell_name: str, name: str, change: ServiceChange) -> bool:
    """Create or update a service of a cell; True if created."""
    cell = find_cell(session, cell_name)
    check_name(name, "service name", SERVICE_RE)
    if change.recovery is not None and change.recovery not in RECOVERIES:
        raise InventoryInvalid(f"recovery {change.recovery!r}: expected one of "
                               f"{', '.join(RECOVERIES)}")
    service = next((s for s in cell.services if s.name == name), None)
    created = service is None
    if service is None:
        service = m.Service(name=name, autostart=True, recovery="restart", max_restarts=3,
                            restart_window_s=300.0, domain=[], restricted=False,
                            failback=False, failback_delay_s=0.0)
        cell.services.append(service)
    if change.domain is not None:
        members = {mb.node.name for mb in cell.members}
        nodes = [n.name for n in known_nodes(session, change.domain, "domain",
                                             ordered=True)]
        outside = [n for n in nodes if n not in members]
        if outside:
            raise InventoryInvalid(f"service {name}: {', '.join(outside)} not in cell "
                                   f"{cell.name}")
        service.domain = [[n, i + 1] for i, n in enumerate(nodes)]
    for attr in ("autostart", "recovery", "max_restarts", "restricted", "failback"):
        value = getattr(change, attr)
        if value is not None:
            setattr(service, attr, value)
    for resource, agent in change.resources:
        if all(r.name != resource for r in service.resources):
            check_name(resource, "resource name", SERVICE_RE)
            service.resources.append(m.Resource(
                name=resource, agent=agent, params={}, monitor_interval_s=10.0, timeouts={},
                position=len(service.resources) + 1))
    return created


@dataclass(frozen=True)
class ResourceChange:
    """What `db set resource CELL SERVICE NAME` changes: `params` are merged into the
    resource's, `drop_params` removed; `position` 1 is started first."""

    agent: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    drop_params: tuple[str, ...] = ()
    position: int | None = None
    monitor_interval_s: float | None = None


def set_resource(session: Session, cell_name: str, service_name: str, name: str,
                 change: ResourceChange) -> bool:
    """Create or update a resource of a service (the service too, with the defaults of
    a configuration's [[services]], when it is new); True if the resource was created."""
    cell = find_cell(session, cell_name)
    service = next((s for s in cell.services if s.name == service_name), None)
    if service is None:
        set_service(session, cell_name, service_name, ServiceChange())
        service = next(s for s in cell.services if s.name == service_name)
    check_name(name, "resource name", SERVICE_RE)
    resources = list(service.resources)
    resource = next((r for r in resources if r.name == name), None)
    created = resource is None
    if resource is None:
        if change.agent is None:
            raise InventoryInvalid(f"resource {name} is new: give its --agent")
        resource = m.Resource(name=name, agent=change.agent, params={},
                              monitor_interval_s=10.0, timeouts={}, position=0)
        resources.append(resource)
    if change.position is not None:
        if not 1 <= change.position <= len(resources):
            raise InventoryInvalid(f"position {change.position}: expected 1 to "
                                   f"{len(resources)}")
        resources.remove(resource)
        resources.insert(change.position - 1, resource)
    for index, item in enumerate(resources):
        item.position = index + 1
    service.resources = resources
    if change.agent is not None:
        resource.agent = change.agent
    if change.monitor_interval_s is not None:
        resource.monitor_interval_s = change.monitor_interval_s
    params = {k: v for k, v in {**resource.params, **change.params}.items()
              if k not in change.drop_params}
    resource.params = params
    return created
