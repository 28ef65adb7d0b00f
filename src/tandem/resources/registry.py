"""Resource agents by name. Built-in agents register themselves on import."""

from __future__ import annotations

import importlib
from typing import TypeVar

from tandem.resources.base import ResourceAgent

A = TypeVar("A", bound=type[ResourceAgent])
_AGENTS: dict[str, type[ResourceAgent]] = {}
BUILTIN_MODULES = ("dummy", "fs", "haservices", "ip", "ocf", "process", "script")


def register(cls: A) -> A:
    """Class decorator: make an agent available under its `name`."""
    _AGENTS[cls.name] = cls
    return cls


_LOADED: list[str] = []


def _load_builtins() -> None:
    """Import the built-in agents (once: a configuration names hundreds of resources)."""
    if _LOADED:
        return
    for module in BUILTIN_MODULES:
        importlib.import_module(f"tandem.resources.{module}")
    _LOADED.extend(BUILTIN_MODULES)


def get_agent(name: str) -> type[ResourceAgent]:
    """The agent class called `name`; KeyError naming the known agents otherwise."""
    _load_builtins()
    try:
        return _AGENTS[name]
    except KeyError:
        raise KeyError(f"unknown agent {name!r} (known: {', '.join(agent_names())})") \
            from None


def agent_names() -> list[str]:
    """Every registered agent name, sorted."""
    _load_builtins()
    return sorted(_AGENTS)
