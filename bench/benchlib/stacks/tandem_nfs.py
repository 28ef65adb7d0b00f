"""tandem serving the NFS benchmark's export: the cell's generated HA_NFS service (its
daemons start with each node of a `--start` lab); enabled on node1 once the cell is
quorate, since HA_NFS does not start by itself."""

from __future__ import annotations

from benchlib.errors import BenchError
from benchlib.stacks.tandem_stack import TandemStack
from tandem.lab.query import tandem_argv
from tandem.lab.wait import wait_for

SERVICE = "HA_NFS"
ENABLE_TIMEOUT_S = 120


class TandemNfsStack(TandemStack):
    """tandemd on both nodes, running HA_NFS."""

    service = SERVICE

    def start(self) -> str:
        node = self.lab.nodes[0]
        wait_for(lambda: (s := self._status()) is not None and s.quorate, 60,
                 "the cell to be quorate", interval=0.2)
        self._svc(node, "enable", node, ENABLE_TIMEOUT_S)
        return self.wait_ready()

    def _svc(self, where: str, action: str, target: str, timeout: float) -> None:
        argv = [*tandem_argv("svc", action, SERVICE), "--node", target,
                "--timeout", str(int(timeout))]
        done = self.node_run(where, argv, timeout=timeout + 30, check=False)
        if done.returncode != 0:
            raise BenchError(f"tandem svc {action} {SERVICE} --node {target} failed: "
                             f"{(done.stderr or done.stdout).strip()[-200:]}")

    def relocate(self, target: str) -> None:
        self._svc(target, "relocate", target, 60)

    def diagnose(self) -> str:
        """Status and console of each node, and the last events of those that are up
        (why a service went where it went)."""
        parts = [super().diagnose()]
        for node in self.lab.nodes:
            if self.lab.control.power(node).power == "on":
                done = self.node_run(node, tandem_argv("events", "--last", "40"), check=False)
                parts.append(f"== {node}: tandem events\n{(done.stdout or done.stderr).strip()}")
        return "\n".join(parts)

    def clear_failures(self) -> None:
        """An operator's request clears the nodes HA_NFS failed on (after a killed
        server it avoids the node it failed on): ask it to stay where it runs."""
        owner = self.wait_ready()
        self._svc(owner, "relocate", owner, 30)

