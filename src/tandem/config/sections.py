"""Top-level sections that belong to a domain: `[qdisk]` today; `[lustre]`, `[nfs]` and
`[batch]` are meant to join the same way.

The loader reads the engine's own sections (cluster, timing, networks, nodes, fencing,
services, lab). Every other section name is looked up in `SECTION_MODULES`, which says
which module reads it; that module is imported only when a file uses the section (or a
model of it is written), so `tandem.config` never imports a domain and each domain keeps
its configuration beside its code. Adding a section is one line in the map plus a
module that defines `SECTION = SectionKind(...)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from tandem.config.reader import Section

if TYPE_CHECKING:
    from tandem.config.model import ClusterConfig

M = TypeVar("M")

# Section name -> the module that defines its SECTION; kept sorted by name.
SECTION_MODULES: dict[str, str] = {
    "qdisk": "tandem.quorum.qdisk.config",
    "storage": "tandem.storage.config",
}


@dataclass(frozen=True)
class SectionKind(Generic[M]):
    """What a domain tells the configuration about its section.

    `read` turns the table into the domain's (frozen) model and `write` turns the model
    back into plain TOML data (the writer's input, so that a generated file reads back
    equal). `check` runs with the whole configuration once the engine's own
    cross-checks on nodes and fencing passed, and raises ConfigError. `votes`, for a
    quorum device, says what the section adds to the expected votes; such a section
    also turns two-node mode off by default.
    """

    name: str
    model: type[M]
    read: Callable[[Section], M]
    write: Callable[[M], dict[str, Any]]
    check: Callable[[ClusterConfig], None] | None = None
    votes: Callable[[M], int] | None = None


def section_kind(name: str) -> SectionKind[Any]:
    """The kind registered for section `name` (its module is imported now)."""
    module_name = SECTION_MODULES[name]
    kind = getattr(importlib.import_module(module_name), "SECTION", None)
    if not isinstance(kind, SectionKind) or kind.name != name:
        raise ImportError(f"{module_name} does not define SECTION = SectionKind({name!r}, ...)")
    return kind


def kind_of(model: object) -> SectionKind[Any]:
    """The kind whose model `model` is; LookupError for an unregistered type."""
    for name in SECTION_MODULES:
        kind = section_kind(name)
        if type(model) is kind.model:
            return kind
    raise LookupError(f"{type(model).__name__} is not the model of a registered section")


def read_sections(top: Section) -> tuple[object, ...]:
    """The models of the domain sections present in the file's top-level table, in
    the order of their names (so that equal files give equal configurations)."""
    models = []
    for name in sorted(SECTION_MODULES):
        table = top.table(name)
        if table is not None:
            models.append(section_kind(name).read(table))
    return tuple(models)


def adds_votes(models: tuple[object, ...]) -> bool:
    """Is one of `models` a quorum device (a section that may add votes)?"""
    return any(kind_of(model).votes is not None for model in models)


def section_votes(models: tuple[object, ...]) -> int:
    """The votes the sections add to the nodes' (a quorum disk's)."""
    total = 0
    for model in models:
        votes = kind_of(model).votes
        total += votes(model) if votes is not None else 0
    return total


def check_sections(config: ClusterConfig) -> None:
    """Each present section's own cross-check."""
    for model in config.sections:
        check = kind_of(model).check
        if check is not None:
            check(config)


def written_sections(models: tuple[object, ...]) -> Mapping[str, dict[str, Any]]:
    """Section name -> plain TOML data, for the writer."""
    return {kind.name: kind.write(model) for model in models
            for kind in (kind_of(model),)}
