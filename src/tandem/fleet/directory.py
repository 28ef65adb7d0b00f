"""Cells described by a directory of cell files (`tandem cells ... --from-dir DIR`):
every `*.toml` in it but the site file is one cell, checked by the configuration
loader; `site.toml` (tandem.fleet.sitefile) adds how to reach the nodes and the cells'
kinds. Where services ran is kept in `locations/CELL.json` in the same directory.

This is the source of the fleet commands until the inventory database is wired in; it
is also how the lab builds a site (`tandem lab up --site DIR`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tandem.config import ClusterConfig, ConfigError, parse_config
from tandem.fleet.errors import FleetError
from tandem.fleet.nodesets import cell_groups, selected_names
from tandem.fleet.sitefile import SITE_FILE, Site, load_site
from tandem.fleet.source import CellTarget, NodeTarget, Selection, ServiceLocation

LOCATIONS_DIR = "locations"  # one CELL.json per cell: what each status saw


@dataclass(frozen=True)
class DirectoryCell:
    """One cell file, loaded and checked."""

    file: Path
    config: ClusterConfig
    target: CellTarget


class DirectorySource:
    """A CellSource over a directory of cell files."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._cells: list[DirectoryCell] | None = None
        self._site: Site | None = None
        self._records_ready = False

    @property
    def site(self) -> Site:
        if self._site is None:
            self._site = load_site(self.directory)
        return self._site

    def cells(self) -> list[DirectoryCell]:
        """Every cell of the directory, checked (loaded once)."""
        if self._cells is None:
            self._cells = _load_cells(self.directory, self.site)
        return self._cells

    def targets(self, selection: Selection) -> list[CellTarget]:
        everything = [c.target for c in self.cells()]
        chosen = selected_names(selection, [n.name for t in everything for n in t.nodes],
                                cell_groups(everything))
        return [t for t in everything if any(n.name in chosen for n in t.nodes)]

    def record(self, seen: Mapping[str, Sequence[ServiceLocation]],
               seen_at: float) -> None:
        for cell, locations in seen.items():
            self._record(cell, locations, seen_at)

    def _record(self, cell: str, locations: Sequence[ServiceLocation],
                seen_at: float) -> None:
        path = self.directory / LOCATIONS_DIR / f"{cell}.json"
        data = {"cell": cell, "seen_at": seen_at,
                "services": [{"service": loc.service, "node": loc.node, "state": loc.state}
                             for loc in locations]}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            if not self._records_ready:
                path.parent.mkdir(exist_ok=True)
                self._records_ready = True
            tmp.write_text(json.dumps(data, indent=1) + "\n")
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise FleetError(f"cannot record where services run in {path.parent}: "
                             f"{exc.strerror or exc}") from None

    def recorded(self) -> dict[str, Any]:
        """What `record` kept: cell -> {cell, seen_at, services: [{service, node,
        state}]}."""
        kept: dict[str, Any] = {}
        for path in sorted((self.directory / LOCATIONS_DIR).glob("*.json")):
            try:
                kept[path.stem] = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise FleetError(f"cannot read {path}: {exc}") from None
        return kept


def _load_cells(directory: Path, site: Site) -> list[DirectoryCell]:
    if not directory.is_dir():
        raise FleetError(f"{directory}: not a directory of cell files")
    files = sorted(p for p in directory.glob("*.toml") if p.name != SITE_FILE)
    if not files:
        raise FleetError(f"{directory}: no cell file (*.toml) in it")
    cells = [_load_cell(path, site) for path in files]
    _check_unique(cells, site)
    return cells


def _load_cell(path: Path, site: Site) -> DirectoryCell:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FleetError(f"{path}: cannot read: {exc.strerror or exc}") from None
    config = parse_config(text, str(path))  # ConfigError: one line naming file and key
    if len(config.nodes) < 2:
        raise ConfigError(str(path), "nodes", f"cell {config.name} has "
                          f"{len(config.nodes)} node; a cell needs at least two")
    nodes = tuple(NodeTarget(n.name, _address(config, n.name, site, path))
                  for n in config.nodes)
    target = CellTarget(name=config.name, kind=site.kinds.get(config.name, "generic"),
                        nodes=nodes, config_text=text, config_version=config.config_version,
                        config_hash=hashlib.sha256(text.encode()).hexdigest())
    return DirectoryCell(path, config, target)


def _address(config: ClusterConfig, node: str, site: Site, path: Path) -> str:
    if node in site.addresses:
        return site.addresses[node]
    itf = config.node(node).interface_on(site.admin_network)
    if itf is None:
        raise ConfigError(str(path), f"nodes ({node})", f"no address on the admin network "
                          f"{site.admin_network!r} and none in {SITE_FILE} [addresses]")
    return str(itf.address.ip)


def _check_unique(cells: list[DirectoryCell], site: Site) -> None:
    names: dict[str, Path] = {}
    owners: dict[str, str] = {}
    reached: dict[str, str] = {}
    for cell in cells:
        if cell.target.name in names:
            raise FleetError(f"cell {cell.target.name} is described twice: "
                             f"{names[cell.target.name].name} and {cell.file.name}")
        names[cell.target.name] = cell.file
        for node in cell.target.nodes:
            if node.name in owners:
                raise FleetError(f"node {node.name} is in two cells: {owners[node.name]} "
                                 f"and {cell.target.name}")
            owners[node.name] = cell.target.name
            if node.address in reached:
                raise FleetError(f"nodes {reached[node.address]} and {node.name} have the "
                                 f"same admin address {node.address}")
            reached[node.address] = node.name
    for what, keys in (("[addresses]", site.addresses), ("[kinds]", site.kinds)):
        known = owners if what == "[addresses]" else names
        stray = sorted(set(keys) - set(known))
        if stray:
            raise FleetError(f"{SITE_FILE} {what}: {', '.join(stray)} "
                             f"{'is' if len(stray) == 1 else 'are'} in no cell file")
