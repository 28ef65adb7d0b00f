"""Resource agents by name, from any package.

`AGENT_MODULES` says which module defines each agent, so a domain's agents live in the
domain's package (the management pair's `haservices` in tandem.hpc.mgmt) and only the
module of an agent that is asked for is imported. That module hands its class over with
the `register` decorator. Adding an agent is one line in the map plus its module.
"""

from __future__ import annotations

import importlib
from typing import TypeVar

from tandem.resources.base import ResourceAgent

A = TypeVar("A", bound=type[ResourceAgent])

AGENT_MODULES: dict[str, str] = {
    "dummy": "tandem.resources.dummy",
    "fs": "tandem.resources.fs",
    "haservices": "tandem.hpc.mgmt.agent",
    "ip": "tandem.resources.ip",
    "lustre_target": "tandem.hpc.lustre.target",
    "nfs_server": "tandem.hpc.nfs.agent",
    "ocf": "tandem.resources.ocf",
    "portblock": "tandem.resources.portblock",
    "process": "tandem.resources.process",
    "script": "tandem.resources.script",
    "slurmctld": "tandem.hpc.batch.slurmctld",
}
_AGENTS: dict[str, type[ResourceAgent]] = {}


def register(cls: A) -> A:
    """Class decorator: the agent class its module defines for `cls.name`."""
    _AGENTS[cls.name] = cls
    return cls


def get_agent(name: str) -> type[ResourceAgent]:
    """The agent class called `name`; KeyError naming the known agents otherwise."""
    module = AGENT_MODULES.get(name)
    if module is None:
        raise KeyError(f"unknown agent {name!r} (known: {', '.join(agent_names())})")
    if name not in _AGENTS:
        importlib.import_module(module)
    try:
        return _AGENTS[name]
    except KeyError:
        raise ImportError(f"{module} does not register an agent named {name!r}") from None


def agent_names() -> list[str]:
    """Every agent name, sorted (no agent module is imported)."""
    return sorted(AGENT_MODULES)
