"""`nfs_server`: NFS-Ganesha serving a failover service's exports through its address.

Start writes the configuration generated from the exports (tandem.hpc.nfs.ganesha) to
/run/tandem/nfs/RESOURCE.conf, makes sure an rpcbind runs in this node (NFSv3 cannot
register without one: Ganesha exits), starts `ganesha.nfsd -F` under the `process`
agent's supervision and returns once the server answers a NULL call on this node's
loopback: the service's ports are blocked on its address while the server starts (the
`portblock` resources around it), so the resource after it (the port unblock) opens a
server that is ready. A configuration error Ganesha logs (it would otherwise run without the export)
fails the start.

rpcbind is started only if none answers on this node's loopback (the node may run its
own for other services); then it is ours and stop stops it after Ganesha. Two rpcbinds
cannot share a /run (a lock file and a socket live there), so each node of a lab needs
a private /run.

Status: `rpcinfo -T tcp ADDRESS 100003 3` (NFSv3 NULL through rpcbind, as a v3 client
finds the server); monitor adds the MOUNT program. A Ganesha that died behind our back
is a failure, not "stopped".
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import socket
import time
from pathlib import Path

from tandem.hpc.nfs.ganesha import (
    MNT_PORT,
    MOUNT_PROGRAM,
    NFS_PORT,
    NFS_PROGRAM,
    NLM_PORT,
    PATH_RE,
    RQUOTA_PORT,
    Export,
    ganesha_conf,
    parse_exports,
)
from tandem.resources.base import (
    AgentResult,
    OcfCode,
    ParamError,
    ParamSpec,
    ResourceAgent,
    Timeouts,
    failure,
    not_running,
    success,
)
from tandem.resources.process import ProcessAgent, read_record
from tandem.resources.registry import register
from tandem.util.atomicfile import replace_file
from tandem.util.procrun import CommandError, run_command

RUN_DIR = "/run/tandem/nfs"
LOG_DIR = "/var/log/tandem"
RPCINFO = "/usr/bin/rpcinfo"
# rpcinfo run as root binds each connection to a privileged port (600-1023) that then
# sits in TIME_WAIT for a minute; one of them on rquota's 875 keeps Ganesha from starting
# on this node again ("Address already in use"). Without CAP_NET_BIND_SERVICE the RPC
# library connects from an ordinary port.
UNPRIVILEGED = ["/usr/bin/setpriv", "--bounding-set=-net_bind_service",
                "--inh-caps=-net_bind_service"]
SERVER_PORTS = (NFS_PORT, MNT_PORT, NLM_PORT, RQUOTA_PORT)
LOOPBACK = "127.0.0.1"  # where a start checks the server: the service address is blocked
RPCBIND_HOST, RPCBIND_PORT = "127.0.0.1", 111
RPC_TIMEOUT_S = 3.0  # one NULL call; a blocked port or a hung server hits it
RPCBIND_READY_S = 5.0
POLL_S = 0.1
MAX_GRACE_S = 180  # Ganesha's own limit for Grace_Period and Lease_Lifetime
TAIL_BYTES = 4096
CONFIG_ERROR_RE = re.compile(r":CONFIG :CRIT :(.*)")


@register
class NfsServerAgent(ResourceAgent):
    """NFS-Ganesha (with rpcbind if the node has none) for a service's exports."""

    name = "nfs_server"
    summary = "NFS-Ganesha serving the service's exports through its address (NFSv3 and v4)"
    params = (
        ParamSpec("address", "string", required=True,
                  description="service address the clients mount through (no prefix)"),
        ParamSpec("exports", "list", required=True,
                  description='[{ path = "/srv/home", id = 1, clients = "*", access = "RW", '
                              'squash = "no_root_squash" }, ...]; id: stable 1..65535'),
        ParamSpec("recovery_dir", "string", required=True,
                  description="NFSv4 client recovery state, on the failover disk"),
        ParamSpec("grace_s", "integer", default=10,
                  description="grace period and lease time after a start or a move"),
        ParamSpec("ganesha", "string", default="/usr/bin/ganesha.nfsd",
                  description="the NFS-Ganesha daemon"),
        ParamSpec("rpcbind", "string", default="/usr/sbin/rpcbind",
                  description="rpcbind, started if none runs in this node"),
    )
    timeouts = Timeouts(start=30, stop=40, status=10, monitor=15)

    def validate(self) -> None:
        try:
            ipaddress.ip_address(self.values["address"])
        except ValueError:
            raise ParamError(self.resource, "address",
                             f"expected an IP address without prefix, got "
                             f"{self.values['address']!r}") from None
        self._exports()
        for key in ("recovery_dir", "ganesha", "rpcbind"):
            if not re.fullmatch(PATH_RE, self.values[key]):
                raise ParamError(self.resource, key,
                                 f"expected an absolute path, got {self.values[key]!r}")
        if not 1 <= self.values["grace_s"] <= MAX_GRACE_S:
            raise ParamError(self.resource, "grace_s", f"must be 1..{MAX_GRACE_S}")

    def _exports(self) -> tuple[Export, ...]:
        return parse_exports(self.resource, self.values["exports"])

    @property
    def conf_path(self) -> Path:
        return Path(RUN_DIR, f"{self.resource}.conf")

    @property
    def log_path(self) -> Path:
        """Ganesha's own log (its stdout and stderr go to the process agent's file)."""
        return Path(LOG_DIR, f"{self.resource}.ganesha.log")

    def config_text(self) -> str:
        return ganesha_conf(self._exports(), self.values["recovery_dir"],
                            self.values["grace_s"])

    def _ganesha(self) -> ProcessAgent:
        return _supervised(self.resource, [
            self.values["ganesha"], "-F", "-f", str(self.conf_path), "-L", str(self.log_path),
            "-p", f"{RUN_DIR}/{self.resource}.ganesha.pid"])

    def _rpcbind(self) -> ProcessAgent:
        return _supervised(f"{self.resource}-rpcbind", [self.values["rpcbind"], "-f", "-w"])

    async def _rpc_null(self, program: int, version: int = 3) -> str | None:
        """None if the program answers a NULL call through the service address over
        TCP; else why not, in one line."""
        return await rpc_null(self.values["address"], program, version)

    # -- start ------------------------------------------------------------------------------
    async def start(self) -> AgentResult:
        if (await self._ganesha().status()).ok:
            problem = await rpc_null(LOOPBACK, NFS_PROGRAM, 3)
            return success("already running") if problem is None else failure(
                f"ganesha runs but does not answer on {LOOPBACK}: {problem}")
        ready = await asyncio.to_thread(self._prepare)
        if ready is not None:
            return ready
        began = time.monotonic()
        rpcbind = await self._ensure_rpcbind()
        if not rpcbind.ok:
            return rpcbind
        offset = await asyncio.to_thread(_size, self.log_path)
        started = await self._ganesha().start()
        if not started.ok:
            return started
        answered = await self._wait_answer(self.timeouts.start / 2, offset)
        if answered is not None:
            return answered
        return success(f"NFS answers (on {LOOPBACK}, for {self.values['address']}) after "
                       f"{time.monotonic() - began:.1f} s (ganesha {started.message}; "
                       f"rpcbind: {rpcbind.message})")

    def _prepare(self) -> AgentResult | None:
        """Binaries present, exported directories and the recovery directory there
        (the failover disk is mounted), the configuration written; else the failure."""
        for key in ("ganesha", "rpcbind"):
            if not os.access(self.values[key], os.X_OK):
                return failure(f"{self.values[key]} is not installed on this node",
                               OcfCode.ERR_INSTALLED)
        missing = [e.path for e in self._exports() if not Path(e.path).is_dir()]
        if missing:
            return failure(f"exported directory {', '.join(missing)} does not exist here "
                           f"(is the failover disk mounted?)")
        recovery = Path(self.values["recovery_dir"])
        if not recovery.parent.is_dir():
            return failure(f"recovery_dir's parent {recovery.parent} does not exist here "
                           f"(is the failover disk mounted?)")
        recovery.mkdir(mode=0o700, exist_ok=True)
        busy = ports_in_use(SERVER_PORTS)
        if busy:
            return failure(f"port(s) {', '.join(busy)} in use on this node: Ganesha could "
                           f"not bind them (`ss -tuanp` shows by whom; a connection in "
                           f"TIME_WAIT frees its port within 60 s)")
        _write(self.conf_path, self.config_text())
        return None

    async def _ensure_rpcbind(self) -> AgentResult:
        """Ours if it runs, else the node's if one answers, else a new one of ours."""
        ours = self._rpcbind()
        if (await ours.status()).ok:
            return success("ours, running")
        if await port_open(RPCBIND_HOST, RPCBIND_PORT, RPC_TIMEOUT_S):
            return success("the node's own")
        started = await ours.start()
        if not started.ok:
            return failure(f"rpcbind: {started.message}")
        deadline = time.monotonic() + RPCBIND_READY_S
        while time.monotonic() < deadline:
            if await port_open(RPCBIND_HOST, RPCBIND_PORT, RPC_TIMEOUT_S):
                return success(f"started ({started.message})")
            await asyncio.sleep(POLL_S)
        return failure(f"rpcbind started ({started.message}) but port {RPCBIND_PORT} did "
                       f"not open within {RPCBIND_READY_S:g} s")

    async def _wait_answer(self, limit_s: float, offset: int) -> AgentResult | None:
        """None once NFS answers on the loopback (the address is still blocked) and
        Ganesha logged no configuration error since `offset`; a failure otherwise."""
        deadline = time.monotonic() + limit_s
        problem: str | None = "not tried"
        while time.monotonic() < deadline:
            if not (await self._ganesha().status()).ok:
                return failure(f"ganesha.nfsd exited during its start: "
                               f"{await asyncio.to_thread(_last_line, self.log_path, offset)}")
            problem = await rpc_null(LOOPBACK, NFS_PROGRAM, 3)
            if problem is None:
                break
            await asyncio.sleep(POLL_S)
        else:
            return failure(f"NFS did not answer on {LOOPBACK} within "
                           f"{limit_s:g} s: {problem}")
        errors = await asyncio.to_thread(config_errors, self.log_path, offset)
        if errors:
            return failure(f"ganesha.nfsd refused its configuration {self.conf_path}: "
                           f"{errors[0]}", OcfCode.ERR_CONFIGURED)
        return None

    # -- stop, status, monitor --------------------------------------------------------------
    async def stop(self) -> AgentResult:
        stopped = await self._ganesha().stop()
        if not stopped.ok:
            return failure(f"ganesha.nfsd: {stopped.message}")
        rpcbind = await self._rpcbind().stop()
        if not rpcbind.ok:
            return failure(f"rpcbind: {rpcbind.message}")
        return success(f"ganesha {stopped.message}; our rpcbind {rpcbind.message}")

    async def status(self) -> AgentResult:
        daemon = self._ganesha()
        running = await daemon.status()
        if running.stopped:
            if await asyncio.to_thread(read_record, daemon.pidfile) is None:
                return not_running()
            return failure(f"ganesha.nfsd died ({running.message}): "
                           f"{await asyncio.to_thread(_last_line, self.log_path, 0)}")
        if not running.ok:
            return running
        problem = await self._rpc_null(NFS_PROGRAM)
        if problem is not None:
            return failure(f"NFS does not answer on {self.values['address']}: {problem}")
        return success(f"NFS answers on {self.values['address']} ({running.message})")

    async def monitor(self) -> AgentResult:
        checked = await self.status()
        if not checked.ok:
            return checked
        problem = await self._rpc_null(MOUNT_PROGRAM)
        if problem is not None:
            return failure(f"MOUNT does not answer on {self.values['address']}: {problem}")
        return success(f"NFS and MOUNT answer on {self.values['address']}")


def _supervised(resource: str, command: list[str]) -> ProcessAgent:
    """A daemon run in the foreground under the `process` agent, its files in ours."""
    agent = ProcessAgent.create(resource, {
        "command": command,
        "pidfile": f"{RUN_DIR}/{resource}.pid",
        "output": f"{LOG_DIR}/{resource}.log",
    })
    assert isinstance(agent, ProcessAgent)
    return agent


async def rpc_null(address: str, program: int, version: int) -> str | None:
    """None if `rpcinfo -T tcp ADDRESS PROGRAM VERSION` gets an answer; why not otherwise."""
    try:
        done = await run_command([*UNPRIVILEGED, RPCINFO, "-T", "tcp", address, str(program),
                                  str(version)], timeout_s=RPC_TIMEOUT_S)
    except CommandError as exc:
        return str(exc)
    if done.ok and "ready and waiting" in done.stdout:
        return None
    return done.tail()


def ports_in_use(ports: tuple[int, ...]) -> list[str]:
    """The ports ("875/tcp") that a server binding them as Ganesha does (any address,
    both families, SO_REUSEADDR) would find taken in this node."""
    return [f"{port}/{name}" for port in ports
            for kind, name in ((socket.SOCK_STREAM, "tcp"), (socket.SOCK_DGRAM, "udp"))
            if not _bindable(kind, port)]


def _bindable(kind: int, port: int) -> bool:
    try:  # dual-stack where the node has IPv6, else IPv4 only
        probe = socket.socket(socket.AF_INET6, kind)
        probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        where: tuple[str, int] = ("::", port)
    except OSError:
        probe, where = socket.socket(socket.AF_INET, kind), ("0.0.0.0", port)
    with probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(where)
        except OSError:
            return False
    return True


async def port_open(host: str, port: int, timeout_s: float) -> bool:
    """Something accepts TCP connections on host:port (in this node's network)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def config_errors(log: Path, offset: int) -> list[str]:
    """The configuration errors Ganesha logged after `offset`."""
    return [match.group(1) for match in map(CONFIG_ERROR_RE.search, _lines(log, offset))
            if match]


def _last_line(log: Path, offset: int) -> str:
    """The last thing Ganesha logged after `offset` (it says why it exited)."""
    lines = _lines(log, max(offset, _size(log) - TAIL_BYTES))
    return lines[-1][-200:] if lines else f"nothing logged (see {log})"


def _lines(log: Path, offset: int) -> list[str]:
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_file(path, text.encode(), 0o644)
