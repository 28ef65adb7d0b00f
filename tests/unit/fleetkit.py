"""A site of pretend nodes for the fleet's unit tests: each node has a root directory
of its own (its /etc/tandem), an optional pretend tandemd, and answers the fleet's
remote commands as a real node would. Push goes through the real node-side installer
(tandem.fleet.install); status documents are the real recording of bench/data
(a status a real daemon gave), renamed and adjusted to the node asked."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tandem.common.errors import TandemError
from tandem.common.status import CellStatus
from tandem.config import ClusterConfig, load_config, parse_config
from tandem.fleet import remote
from tandem.fleet.install import InstallRefused, NodeFiles, install
from tandem.fleet.payload import decode_payload
from tandem.fleet.remote import NO_CONFIG
from tandem.fleet.transport import Done, Job, NodeResult
from tandem.wire.keyfile import generate_key

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SITE = REPO / "examples" / "site"
RECORDED = REPO / "bench" / "data" / "cells_status" / "io1.out"
NOT_RUNNING = ("tandem: error: tandemd is not running on this node "
               "(no /run/tandem/tandemd.sock)")


def cell_keys(tmp: Path) -> Path:
    """A fresh key per cell of the example site, in tmp/keys (as `--key-dir` wants)."""
    folder = tmp / "keys"
    folder.mkdir()
    for cell in ("io12", "io34", "io56", "io78"):
        generate_key(folder / f"{cell}.key")
    return folder


def copy_site(tmp: Path) -> Path:
    """The example site (four 2-node cells) in a directory of the test's own."""
    target = tmp / "site"
    shutil.copytree(EXAMPLE_SITE, target, ignore=shutil.ignore_patterns("locations"))
    return target


def template_status() -> CellStatus:
    text = RECORDED.read_text().split("\n", 1)[1]
    return CellStatus.from_json(json.loads(text), "recording")


class PretendDaemon:
    """tandemd as tandem.fleet.install sees it: the version it runs, and pushes."""

    def __init__(self, node: PretendNode) -> None:
        self.node = node

    def running_version(self) -> int | None:
        return self.node.loaded.config_version if self.node.loaded else None

    def push(self, text: str) -> None:
        config = parse_config(text, "pushed")
        loaded = self.node.loaded
        assert loaded is not None
        if config.config_version <= loaded.config_version:
            raise InstallRefused(f"config_version {config.config_version} is not newer "
                                 f"than the running version {loaded.config_version}")
        self.node.loaded = config
        self.node.files.config.write_text(text)
        self.node.pushes += 1


@dataclass
class PretendNode:
    name: str
    root: Path
    reachable: bool = True
    loaded: ClusterConfig | None = None  # what its tandemd runs (None: not running)
    pushes: int = 0
    commands: list[str] = field(default_factory=list)
    stdins: list[bytes] = field(default_factory=list)

    @property
    def files(self) -> NodeFiles:
        return NodeFiles(config=self.root / "etc/tandem/cluster.toml", root=self.root)

    def installed(self) -> str | None:
        path = self.files.config
        return path.read_text() if path.exists() else None


class PretendSite:
    """The nodes of every cell of a site directory; a transport over them."""

    def __init__(self, site: Path, tmp: Path) -> None:
        self.site = site
        self.nodes: dict[str, PretendNode] = {}
        self.owners: dict[str, dict[str, str | None]] = {}  # cell -> service -> node
        self.cell_of: dict[str, str] = {}
        for path in sorted(site.glob("*.toml")):
            if path.name == "site.toml":
                continue
            config = load_config(path)
            for node in config.nodes:
                self.nodes[node.name] = PretendNode(node.name, tmp / "nodes" / node.name)
                self.cell_of[node.name] = config.name
            self.owners[config.name] = {s.name: s.domain.nodes[0][0]
                                        for s in config.services}
        self.runs: list[list[Job]] = []
        self.template = template_status()

    # -- the transport ------------------------------------------------------------------
    def run(self, jobs: Sequence[Job], done: Done | None = None) -> dict[str, NodeResult]:
        self.runs.append(list(jobs))
        results = {}
        for job in jobs:
            for name in job.nodes:
                result = self.answer(self.nodes[name], job.command, job.stdin or b"")
                results[name] = result
                if done is not None:
                    done(result)
        return results

    def answer(self, node: PretendNode, command: str, stdin: bytes) -> NodeResult:
        node.commands.append(command)
        node.stdins.append(stdin)
        if not node.reachable:
            return NodeResult(node.name, 255, "", f"ssh: connect to host {node.name} "
                                                  f"port 22: Connection timed out")
        handlers: dict[str, Callable[[PretendNode, bytes], NodeResult]] = {
            remote.STATUS: self._status, remote.READ_CONFIG: self._read_config,
            remote.INSTALL: self._install, remote.START: self._start,
            remote.STOP: self._stop, remote.CHECK: self._check}
        return handlers[command](node, stdin)

    # -- what a node does ---------------------------------------------------------------
    def _sha_line(self, node: PretendNode) -> str:
        text = node.installed()
        return NO_CONFIG if text is None else \
            f"{hashlib.sha256(text.encode()).hexdigest()}  -"

    def _status(self, node: PretendNode, _: bytes) -> NodeResult:
        if node.loaded is None:
            return NodeResult(node.name, 1, self._sha_line(node), NOT_RUNNING)
        document = self.status_of(node).to_json()
        return NodeResult(node.name, 0,
                          self._sha_line(node) + "\n" + json.dumps(document))

    def status_of(self, node: PretendNode) -> CellStatus:
        """What this node's pretend daemon would say."""
        config = node.loaded
        assert config is not None
        peers = {n.name: self.nodes[n.name] for n in config.nodes}
        up = [name for name, peer in peers.items() if peer.loaded is not None]
        template = self.template
        nodes = tuple(dataclasses.replace(template.nodes[0], name=n.name, id=n.id,
                                          local=n.name == node.name,
                                          state="online" if n.name in up else "offline")
                      for n in config.nodes)
        owners = self.owners[config.name]
        services = tuple(dataclasses.replace(template.services[0], name=s.name,
                                             owner=owners.get(s.name),
                                             state="started" if owners.get(s.name)
                                             else "stopped", placement=owners.get(s.name))
                         for s in config.services)
        return dataclasses.replace(template, cluster=config.name, local=node.name,
                                   coordinator=up[0], config_version=config.config_version,
                                   nodes=nodes, services=services)

    def _read_config(self, node: PretendNode, _: bytes) -> NodeResult:
        text = node.installed()
        if text is None:
            return NodeResult(node.name, 0, NO_CONFIG)
        # As ClusterShell hands it over: lines without their ends.
        return NodeResult(node.name, 0, self._sha_line(node) + "\n" + text.rstrip("\n"))

    def _install(self, node: PretendNode, stdin: bytes) -> NodeResult:
        try:
            line = install(decode_payload(stdin), node.name, node.files, PretendDaemon(node))
        except TandemError as exc:
            return NodeResult(node.name, 1, "", f"tandem: error: {exc}")
        return NodeResult(node.name, 0, line)

    def _start(self, node: PretendNode, _: bytes) -> NodeResult:
        if node.loaded is not None:
            return NodeResult(node.name, 0, "tandemd is already running")
        text = node.installed()
        if text is None:
            return NodeResult(node.name, 1, "", "cs: tandemd did not answer")
        node.loaded = parse_config(text, "installed")
        return NodeResult(node.name, 0, "tandemd started")

    def _stop(self, node: PretendNode, _: bytes) -> NodeResult:
        node.loaded = None
        return NodeResult(node.name, 0, "tandemd stopped")

    def _check(self, node: PretendNode, _: bytes) -> NodeResult:
        text = node.installed()
        if text is None:
            return NodeResult(node.name, 1, "", "tandem: error: cannot read")
        config = parse_config(text, "installed")
        return NodeResult(node.name, 0, f"/etc/tandem/cluster.toml: OK — cluster "
                                        f"{config.name}")
