"""tandem itself, in a lab started with `--start` (tandemd boots with each node), as
`tandem demo` runs it; its failover breakdown comes from tandem's own timeline."""

from __future__ import annotations

from pathlib import Path

from benchlib.cells import SERVICE
from benchlib.errors import BenchError
from benchlib.runs import Run
from benchlib.stacks.base import Stack
from benchlib.usage import children_of
from tandem.common.status import CellStatus
from tandem.lab.failover import run_failover
from tandem.lab.query import cell_status, tandem_argv


class TandemStack(Stack):
    """tandemd on both nodes (started by the lab at every boot)."""

    family = "tandem"
    service = SERVICE  # the service whose owner is the stack's owner

    def start(self) -> str:
        return self.wait_ready()

    def start_node(self, node: str) -> None:
        """The lab starts tandemd itself when it boots a node of a `--start` lab."""

    def _status(self) -> CellStatus | None:
        for node in self.lab.nodes:
            if self.lab.control.power(node).power == "on":
                status = cell_status(self.lab.control, node)
                if status is not None:
                    return status
        return None

    def ready(self) -> str | None:
        status = self._status()
        if status is None or not status.quorate:
            return None
        if any(n.state != "online" for n in status.nodes):
            return None
        return _started_on(status, self.service)

    def owner(self) -> str | None:
        status = self._status()
        return _started_on(status, self.service) if status is not None else None

    def failover(self) -> Run:
        """tandem's own measurement (`run_failover`, what `tandem demo` shows), with the
        breakdown from the survivor's event timeline."""
        result = run_failover(self.lab.control, self.lab.config, SERVICE, fault="crash")
        return Run(outage_ms=result.outage_ms, from_node=result.from_node,
                   to_node=result.to_node, fault_at=result.fault_at,
                   data_kept=result.data_kept, breakdown=dict(result.breakdown))

    def diagnose(self) -> str:
        parts = []
        for node in self.lab.nodes:
            power = self.lab.control.power(node)
            parts.append(f"== {node}: power {power.power} ({power.condition})")
            if power.power == "on":
                done = self.node_run(node, tandem_argv("status"), check=False)
                parts.append((done.stdout or done.stderr).strip())
            parts.append(self.console_tail(node))
        return "\n".join(parts)

    def relocate(self, target: str) -> None:
        done = self.node_run(target, [*tandem_argv("svc", "relocate", SERVICE), "--node", target,
                                      "--timeout", "60"], timeout=90, check=False)
        if done.returncode != 0:
            raise BenchError(f"tandem svc relocate failed: {done.stderr.strip()[-200:]}")

    def daemon_pids(self, node: str) -> list[int]:
        """tandemd, its heartbeat process and the ipmitool shells of its kept IPMI
        sessions (children that are never reaped while they run, so their time is not in
        tandemd's cutime: each is counted on its own)."""
        pid = self.lab.control.power(node).daemon_pid
        if not pid:
            return []
        helpers = [c for c in children_of(pid)
                   if "hbproc" in _cmdline(c) or _cmdline(c).rstrip().endswith(" shell")]
        return [pid, *helpers]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _started_on(status: CellStatus, service: str) -> str | None:
    row = status.service(service)
    return row.owner if row and row.state == "started" and row.owner else None
