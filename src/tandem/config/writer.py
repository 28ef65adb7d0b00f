"""Write a configuration as TOML that the loader reads back equal, with comments.

Generators (`tandem ha config-admin`, later the inventory's) build a ClusterConfig and
write it here; they explain what they wrote with `Notes`: a header, and one comment per
table or key, addressed by the same dotted paths as the loader's errors
(`fence_devices.bmc`, `nodes[0].fence`, `services[0]`). The document is a tomlkit one,
so comments and layout survive, and the same model always gives the same text.

The layout is the examples': inline tables for a node's networks, BMC and fence levels,
a service's domain and a resource's parameters; `[[nodes]]`, `[[services]]` and
`[[services.resources]]` tables. Values equal to the loader's defaults are left out,
except those that decide what the cell does on its own, which are always written:
`config_version`, `two_node`, `wait_for_all`, `heartbeat_ms`, `token_ms`, and each
service's `autostart` and `recovery`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import tomlkit
from tomlkit.items import AoT, Item, Table
from tomlkit.toml_document import TOMLDocument

from tandem.config.model import (
    DEFAULT_PORT,
    ClusterConfig,
    DomainDef,
    FenceDeviceDef,
    LabDef,
    NodeDef,
    ResourceDef,
    ServiceDef,
)
from tandem.config.sections import written_sections

Key = str | tuple[str, ...]  # a tuple is a dotted key: ("networks", "admin")
Pairs = Iterable[tuple[Key, Any]]
_SIZE_UNITS = (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10))


@dataclass(frozen=True)
class Notes:
    """What a generator says about its output: header lines, and comments by path (a
    table's goes under its header, a key's at the end of its line)."""

    header: tuple[str, ...] = ()
    at: Mapping[str, str] = field(default_factory=dict)


def config_text(config: ClusterConfig, notes: Notes | None = None) -> str:
    """`config` as TOML text."""
    return tomlkit.dumps(config_document(config, notes))


def config_document(config: ClusterConfig, notes: Notes | None = None) -> TOMLDocument:
    """`config` as a tomlkit document; ValueError if a note names a path not written
    (a generator's typo would otherwise lose its explanation silently)."""
    notes = notes or Notes()
    out = _Writer(notes.at)
    doc = tomlkit.document()
    for line in notes.header:
        doc.add(tomlkit.comment(line))
    doc.add("cluster", out.table("cluster", _cluster(config)))
    doc.add("timing", out.table("timing", _timing(config)))
    doc.add("networks", out.named("networks", [(n.name, [("ring", n.ring)] if n.ring is not None
                                                        else []) for n in config.networks]))
    if config.fence_devices:
        doc.add("fence_devices", out.named("fence_devices", [
            (d.name, _fence_device(d)) for d in config.fence_devices]))
    doc.add("nodes", out.array("nodes", [_node(n) for n in config.nodes]))
    if config.services:
        doc.add("services", out.services(config.services))
    for name, data in written_sections(config.sections).items():
        doc.add(name, out.section(name, data))
    if config.lab is not None:
        doc.add("lab", out.table("lab", _lab(config.lab)))
    out.check_all_used()
    return doc


class _Writer:
    """Builds tomlkit tables and attaches the notes to the paths they name."""

    def __init__(self, notes: Mapping[str, str]) -> None:
        self.notes = dict(notes)
        self.used: set[str] = set()

    def _note(self, path: str) -> str | None:
        note = self.notes.get(path)
        if note is not None:
            self.used.add(path)
        return note

    def check_all_used(self) -> None:
        unused = sorted(set(self.notes) - self.used)
        if unused:
            raise ValueError(f"notes for paths that were not written: {', '.join(unused)}")

    def table(self, path: str, pairs: Pairs) -> Table:
        """A table of inline values."""
        table = tomlkit.table()
        note = self._note(path)
        if note is not None:
            table.add(tomlkit.comment(note))
        for key, value in pairs:
            item = _item(value)
            parts = key if isinstance(key, tuple) else (key,)
            note = self._note(".".join((path, *parts)))
            if note is not None:
                item.comment(note)
            table.add(tomlkit.key(list(parts)) if len(parts) > 1 else parts[0], item)
        return table

    def named(self, path: str, tables: Iterable[tuple[str, Pairs]]) -> Table:
        """`[path.NAME]` tables under a table that has no keys of its own."""
        outer = tomlkit.table(is_super_table=True)
        for name, pairs in tables:
            outer.add(name, self.table(f"{path}.{name}", pairs))
        return outer

    def array(self, path: str, elements: Iterable[Pairs]) -> AoT:
        """`[[path]]` tables."""
        return _aot(self.table(f"{path}[{i}]", pairs) for i, pairs in enumerate(elements))

    def services(self, services: Iterable[ServiceDef]) -> AoT:
        tables = []
        for i, svc in enumerate(services):
            table = self.table(f"services[{i}]", _service(svc))
            table.add("resources", self.array(f"services[{i}].resources",
                                              [_resource(r) for r in svc.resources]))
            tables.append(table)
        return _aot(tables)

    def section(self, name: str, data: Mapping[str, Any]) -> Table:
        """A domain's section: its tables as `[name.key]`, its arrays of tables as
        `[[name.key]]`, everything else inline."""
        table = self.table(name, [(k, v) for k, v in data.items() if not _nested(v)])
        for key, value in data.items():
            if isinstance(value, Mapping):
                table.add(key, self.table(f"{name}.{key}", value.items()))
            elif _nested(value):
                table.add(key, self.array(f"{name}.{key}", [v.items() for v in value]))
        return table


def _aot(tables: Iterable[Table]) -> AoT:
    aot = tomlkit.aot()
    for table in tables:
        aot.append(table)
    return aot


def _nested(value: Any) -> bool:
    return isinstance(value, Mapping) or (
        isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value))


def _item(value: Any) -> Item:
    """An inline TOML value: tables and arrays all the way down."""
    if isinstance(value, Mapping):
        inline = tomlkit.inline_table()
        for key, inner in value.items():
            inline.append(key, _item(inner))
        return inline
    if isinstance(value, (list, tuple)):
        array = tomlkit.array()
        for inner in value:
            array.append(_item(inner))
        return array
    scalar: Item = tomlkit.item(value)
    return scalar


def _changed(obj: Any, *names: str) -> list[tuple[str, Any]]:
    """(name, value) for each field of the dataclass `obj` that is not at its default."""
    defaults = {f.name: (f.default if f.default_factory is dataclasses.MISSING
                         else f.default_factory()) for f in dataclasses.fields(obj)}
    return [(name, getattr(obj, name)) for name in names
            if getattr(obj, name) != defaults.get(name, dataclasses.MISSING)]


def _cluster(config: ClusterConfig) -> list[tuple[str, Any]]:
    pairs = [("name", config.name), ("key_file", config.key_file),
             ("config_version", config.config_version)]
    if config.port != DEFAULT_PORT:
        pairs.append(("port", config.port))
    pairs += [("two_node", config.two_node), ("wait_for_all", config.wait_for_all)]
    return pairs + _changed(config, "expected_votes")


def _timing(config: ClusterConfig) -> list[tuple[str, Any]]:
    timing = config.timing
    return [("heartbeat_ms", timing.heartbeat_ms), ("token_ms", timing.token_ms),
            *_changed(timing, "fence_check_s")]


def _fence_device(device: FenceDeviceDef) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [("type", device.type), *_changed(device, "agent")]
    if device.options:
        pairs.append(("options", dict(device.options)))
    return pairs + _changed(device, "address", "port", "user", "password", "password_file",
                            "delay_ms", "timeout_s")


def _node(node: NodeDef) -> list[tuple[Key, Any]]:
    pairs: list[tuple[Key, Any]] = [("name", node.name), ("id", node.id),
                                    *_changed(node, "votes")]
    pairs += [(("networks", itf.network), {"interface": itf.interface,
                                           "address": str(itf.address)})
              for itf in node.interfaces]
    if node.bmc is not None:
        pairs.append(("bmc", {"address": node.bmc.address, **dict(_changed(
            node.bmc, "port", "user", "password", "password_file"))}))
    if node.fence:
        pairs.append(("fence", [{"devices": list(level.devices), **dict(_changed(
            level, "delay_ms"))} for level in node.fence]))
    return pairs


def _service(svc: ServiceDef) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [("name", svc.name), ("autostart", svc.autostart),
                                    ("recovery", svc.recovery)]
    pairs += _changed(svc, "max_restarts", "restart_window_s")
    if svc.domain != DomainDef():
        pairs.append(("domain", _domain(svc.domain)))
    return pairs


def _domain(domain: DomainDef) -> dict[str, Any]:
    """Nodes as names when their priorities are their places in the list (what the
    loader gives a plain list), else as { name, priority } tables."""
    in_order = all(prio == i + 1 for i, (_, prio) in enumerate(domain.nodes))
    nodes = ([name for name, _ in domain.nodes] if in_order else
             [{"name": name, "priority": prio} for name, prio in domain.nodes])
    return {"nodes": nodes, **dict(_changed(domain, "restricted", "failback",
                                            "failback_delay_s"))}


def _resource(res: ResourceDef) -> list[tuple[str, Any]]:
    return [("name", res.name), ("agent", res.agent),
            *_changed(res, "monitor_interval_s", "params", "timeouts")]


def _lab(lab: LabDef) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = []
    if lab.private_dirs:
        pairs.append(("private_dirs", list(lab.private_dirs)))
    if lab.client is not None:
        pairs.append(("client", {"network": lab.client.network,
                                 "address": str(lab.client.address)}))
    if lab.disks:
        pairs.append(("disks", [{"name": d.name, "size": _size(d.size_bytes),
                                 **dict(_changed(d, "format", "storage"))}
                                for d in lab.disks]))
    return pairs


def _size(size: int) -> str | int:
    """A size as the examples write it ("256M"), or bytes when no unit divides it."""
    for unit, factor in _SIZE_UNITS:
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return size
