"""The explicit environment of every toolkit action (no globals).

Everything a tool touches outside its own logic comes from here: where the data files
are (`root`, /etc/HA by default), where the system's own paths are (`sysroot`, so tests
and lab nodes can use a private tree), how to run commands locally and on the peer
node, the clock, where progress lines go, and how to ask where HA_NSM runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shlex
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tandem.hpc.mgmt.cellguard import NsmPlace, ask_tandemd
from tandem.hpc.mgmt.errors import CheckFailed
from tandem.hpc.mgmt.transport import SshTransport, Transport
from tandem.util.procrun import CommandError, CommandResult, run_command

DEFAULT_ROOT = Path("/etc/HA")
DEFAULT_CLUSTER_CONFIG = Path("/etc/tandem/cluster.toml")
DEFAULT_RUN_DIR = Path("/run/tandem/ha")
DEFAULT_TIMEOUT_S = 300.0


class Runner:
    """Runs a local command with a deadline; on timeout the whole process group is
    killed (tandem.util.procrun). Failing to run at all is a CheckFailed naming it.

    The toolkit is made of one-shot commands, so each call has an event loop of its
    own; the daemon runs the toolkit's commands as processes, never in its loop."""

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None,
            timeout_s: float = DEFAULT_TIMEOUT_S) -> CommandResult:
        try:
            return asyncio.run(run_command(list(argv), timeout_s=timeout_s, stdin=stdin))
        except CommandError as exc:
            raise CheckFailed(f"`{shlex.join(argv)}`: {exc}") from None


def _discard(_line: str) -> None:
    """Default progress sink: a library is silent unless told where to write."""


@dataclass
class MgmtContext:
    """Where and how the toolkit acts; built by the CLI, or by tests on temp trees."""

    root: Path = DEFAULT_ROOT
    sysroot: Path = Path("/")
    node: str = field(default_factory=socket.gethostname)
    peer: str | None = None
    transport: Transport = field(default_factory=SshTransport)
    peer_sysroot: str = "/"
    runner: Runner = field(default_factory=Runner)
    cluster_config: Path = DEFAULT_CLUSTER_CONFIG
    run_dir: Path = DEFAULT_RUN_DIR
    package_command: tuple[str, ...] = ()
    force: bool = False
    shared_must_be_mounted: bool = True
    command_timeout_s: float = DEFAULT_TIMEOUT_S
    out: Callable[[str], None] = _discard
    now: Callable[[], datetime] = datetime.now
    inventory_url: str | None = None  # haupdatedb: None is $TANDEM_DB, else the default
    # Where HA_NSM runs (tandem.hpc.mgmt.cellguard); tests give a fake answer.
    nsm_place: Callable[[MgmtContext], NsmPlace] = ask_tandemd

    @classmethod
    def under(cls, sysroot: Path, **settings: Any) -> MgmtContext:
        """A context whose whole world is the tree at `sysroot`: data files in
        SYSROOT/etc/HA, run-time state in SYSROOT/run (tests, lab nodes, trials)."""
        base = cls(sysroot=sysroot, root=sysroot / DEFAULT_ROOT.relative_to("/"),
                   cluster_config=sysroot / DEFAULT_CLUSTER_CONFIG.relative_to("/"),
                   run_dir=sysroot / DEFAULT_RUN_DIR.relative_to("/"))
        return dataclasses.replace(base, **settings)

    def data(self, name: str) -> Path:
        """A data file of the toolkit (`/etc/HA/NAME` by default)."""
        return self.root / name

    def host(self, system_path: str) -> Path:
        """Where the system path `system_path` is, seen from here (under `sysroot`)."""
        return self.sysroot / system_path.lstrip("/")

    def peer_path(self, system_path: str) -> str:
        """Where the system path `system_path` is on the peer node."""
        return os.path.join(self.peer_sysroot, system_path.lstrip("/"))

    def say(self, line: str) -> None:
        """One progress line (the toolkit works in verbose mode, as the manual says)."""
        self.out(line)

    def run(self, argv: Sequence[str], *, stdin: bytes | None = None) -> CommandResult:
        """Run a command on this node."""
        return self.runner.run(argv, stdin=stdin, timeout_s=self.command_timeout_s)

    def run_on_peer(self, peer: str, argv: Sequence[str], *,
                    stdin: bytes | None = None) -> CommandResult:
        """Run a command on the peer node through the transport; a transport that fails
        (ssh cannot connect: status 255) is a CheckFailed naming the peer."""
        full = self.transport.remote_argv(peer, argv)
        result = self.runner.run(full, stdin=stdin, timeout_s=self.command_timeout_s)
        if result.returncode == 255 and isinstance(self.transport, SshTransport):
            raise CheckFailed(f"cannot reach {peer} over ssh: {result.tail()}")
        return result
