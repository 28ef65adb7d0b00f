"""What a lab has built, kept on disk so that any process (CLI, BMC, tests) can act on it.

The lab-wide record is written once by `up`; each node's power record is written by
whoever changes the node's power (the CLI or the node's BMC), under a per-node lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tandem.config import ClusterConfig, load_config
from tandem.lab.names import LabNames
from tandem.lab.proc import LabError

NodeCondition = Literal["running", "crashed", "hung", "off"]


@dataclass
class NodePath:
    """One node's path to a san disk: its own loop device over its own FUSE file."""

    file: str
    loop: str
    major: int
    minor: int


@dataclass
class DiskRecord:
    """A shared disk: its sparse backing file and the loop device over it. A san disk
    has one path per node (`paths`); its `loop`, `major` and `minor` are then those of
    the first node's path, so readers of the single device still get a working one."""

    name: str
    file: str
    loop: str
    major: int
    minor: int
    format: str
    size_bytes: int
    storage: str = "loop"
    paths: dict[str, NodePath] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiskRecord:
        paths = {node: NodePath(**path) for node, path in data.get("paths", {}).items()}
        return cls(**{**data, "paths": paths})

    def device(self, node: str) -> tuple[int, int]:
        """Major and minor of the disk as `node` sees it."""
        path = self.paths.get(node)
        return (path.major, path.minor) if path else (self.major, self.minor)

    def devices(self) -> dict[tuple[int, int], str]:
        """Every device number of the disk, and whose path it is ("" when shared)."""
        if not self.paths:
            return {(self.major, self.minor): ""}
        return {(p.major, p.minor): node for node, p in self.paths.items()}


@dataclass
class LabRecord:
    """The lab as built by `tandem lab up`."""

    name: str
    config_file: str
    source: str
    start_daemons: bool = False
    blank_nodes: bool = False  # nodes boot without configuration or key (a site lab)
    sshd: bool = False  # every node runs sshd (tandem.lab.sshd)
    created: float = field(default_factory=time.time)
    disks: list[DiskRecord] = field(default_factory=list)
    host_dirs_created: list[str] = field(default_factory=list)
    bmc_pids: dict[str, int] = field(default_factory=dict)
    san_pid: int = 0  # the FUSE process serving the san disks' paths (tandem.lab.san)
    complete: bool = False

    def save(self) -> None:
        names = LabNames(self.name)
        write_json(names.state_file, asdict(self))

    @classmethod
    def load(cls, lab: str) -> LabRecord:
        names = LabNames(lab)
        try:
            data = json.loads(names.state_file.read_text())
        except FileNotFoundError:
            raise LabError(f"no lab named {lab!r} (see `tandem lab list`)") from None
        except (OSError, ValueError) as exc:
            raise LabError(f"lab {lab!r}: unreadable state {names.state_file}: {exc}") from None
        data["disks"] = [DiskRecord.from_dict(d) for d in data.get("disks", [])]
        return cls(**data)

    def config(self) -> ClusterConfig:
        return load_config(self.config_file)

    def disk(self, name: str) -> DiskRecord:
        for disk in self.disks:
            if disk.name == name:
                return disk
        raise LabError(f"lab {self.name!r} has no disk {name!r}")


@dataclass
class PowerRecord:
    """A node's power as its BMC would report it, plus what the lab did to it."""

    power: Literal["on", "off"] = "off"
    condition: NodeCondition = "off"
    init_pid: int = 0
    daemon_pid: int = 0
    since: float = field(default_factory=time.time)
    cut: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> PowerRecord:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return cls()

    def save(self, path: Path) -> None:
        write_json(path, asdict(self))


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (rename), so that readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


@contextlib.contextmanager
def node_lock(names: LabNames, node: str, timeout: float = 30.0) -> Iterator[None]:
    """Serialise power changes of one node between the CLI and its BMC process."""
    path = names.node_dir(node) / "power.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError(f"node {node}: another power operation is still "
                                   f"running after {timeout:.0f} s") from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
