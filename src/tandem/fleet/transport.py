"""Running one command on many nodes at once, with ClusterShell's Task (no tree mode):
over ssh in production, through a local command template (the exec worker) in tests
and benchmarks. Each node's answer comes back whole: exit status, output, errors, or
why there was none (unreachable, timed out).

A node is reached by its address but known by its name: the ssh worker here is
ClusterShell's, with one method overridden to connect to the address.

ssh's convention marks an unreachable node: exit status 255 is ssh's own failure
(connection refused or timed out, host key refused, authentication). Commands run
through the exec template follow the same convention, so a test can play one.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ClusterShell.Engine.Engine import E_READ, E_WRITE
from ClusterShell.Task import task_self
from ClusterShell.Worker.Exec import ExecClient, ExecWorker
from ClusterShell.Worker.Ssh import SshClient, WorkerSsh
from ClusterShell.Worker.Worker import WorkerError

from tandem.fleet.errors import FleetError
from tandem.fleet.settings import FleetSettings

UNREACHABLE_RC = 255


@dataclass(frozen=True)
class Job:
    """One command for some nodes (name -> address), with what to feed its stdin."""

    nodes: Mapping[str, str]
    command: str
    stdin: bytes | None = None
    timeout: float | None = None


@dataclass(frozen=True)
class NodeResult:
    """What one node answered. `rc` is None when there was no exit status."""

    node: str
    rc: int | None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False

    @property
    def reached(self) -> bool:
        """The command ran on the node (whatever it then said)."""
        return self.rc is not None and self.rc != UNREACHABLE_RC

    @property
    def reason(self) -> str:
        """One line: why the node did not answer, or the last line of its errors."""
        if self.timed_out:
            return "no answer in time"
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        if lines:
            return lines[-1]
        return "unreachable" if not self.reached else f"exit status {self.rc}"


Done = Callable[[NodeResult], None]


class Transport(Protocol):
    """Runs jobs on their nodes; every node of every job gets a result."""

    def run(self, jobs: Sequence[Job], done: Done | None = None) -> dict[str, NodeResult]:
        ...


class _Collector:
    """Each node's lines and exit status, as the workers report them."""

    def __init__(self, done: Done | None) -> None:
        self.done = done
        self.out: dict[str, list[bytes]] = {}
        self.err: dict[str, list[bytes]] = {}
        self.results: dict[str, NodeResult] = {}

    def line(self, node: str, msg: bytes, stderr: bool) -> None:
        (self.err if stderr else self.out).setdefault(node, []).append(msg)

    def finish(self, node: str, rc: int | None, *, timed_out: bool) -> None:
        result = NodeResult(node, rc, _text(self.out.pop(node, [])),
                            _text(self.err.pop(node, [])), timed_out)
        self.results[node] = result
        if self.done is not None:
            self.done(result)


class _Collecting:
    """What our workers report goes straight to their collector: no event handler, no
    task-wide message tree (ClusterShell inspects a handler's signature at every line,
    which costs more than the rest of the fan-out at a few hundred nodes)."""

    collector: _Collector
    SNAME_STDERR: str

    def _on_node_msgline(self, node: str, msg: bytes, sname: str) -> None:
        self.collector.line(node, msg, sname == self.SNAME_STDERR)

    def _on_node_close(self, node: str, rc: int) -> None:
        self.collector.finish(node, rc, timed_out=False)

    def _on_node_timeout(self, node: str) -> None:
        self.collector.finish(node, None, timed_out=True)


class _Spawned:
    """A started command as ClusterShell's clients use it: raw non-blocking pipe ends
    (closed by ClusterShell) and poll/wait/kill."""

    def __init__(self, argv: list[str] | str, shell: bool, env: dict[str, str] | None,
                 stderr: bool) -> None:
        ends = [os.pipe() for _ in range(3 if stderr else 2)]
        (in_r, in_w), (out_r, out_w) = ends[0], ends[1]
        err_w = ends[2][1] if stderr else out_w
        try:
            # subprocess starts the child with vfork: unlike a fork, its cost does not
            # grow with this process's memory (ClusterShell's own Popen forks).
            self.proc = subprocess.Popen(argv, shell=shell, env=env, stdin=in_r,
                                         stdout=out_w, stderr=err_w, close_fds=True)
        finally:
            for fd in {in_r, out_w, err_w}:
                os.close(fd)
        self.stdin, self.stdout = in_w, out_r
        self.stderr: int | None = ends[2][0] if stderr else None
        for end in (self.stdin, self.stdout, self.stderr):
            if end is not None:
                os.set_blocking(end, False)

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self) -> int:
        return self.proc.wait()

    def kill(self) -> None:
        self.proc.kill()


class _Spawning:
    """Clients that start their command through _Spawned."""

    _stderr: bool
    streams: Any
    worker: Any

    def _exec_nonblock(self, commandlist: list[str] | str, shell: bool = False,
                       env: dict[str, str] | None = None) -> _Spawned:
        full_env = {**os.environ, **env} if env else None
        proc = _Spawned(commandlist, shell, full_env, self._stderr)
        if proc.stderr is not None:
            self.streams.set_stream(self.worker.SNAME_STDERR, proc.stderr, E_READ)
        self.streams.set_stream(self.worker.SNAME_STDOUT, proc.stdout, E_READ)
        self.streams.set_stream(self.worker.SNAME_STDIN, proc.stdin, E_WRITE,
                                retain=False)
        return proc


class _DirectExecClient(_Spawning, ExecClient):  # type: ignore[misc]
    """ClusterShell's exec client, running the template's words without a shell (one
    process per node, not two; a template that needs a shell says `sh -c %c`)."""

    def _build_cmd(self) -> tuple[list[str], Any]:
        line, env = super()._build_cmd()
        return shlex.split(line), env


class _ExecWorker(_Collecting, ExecWorker):  # type: ignore[misc]
    SHELL_CLASS = _DirectExecClient


class _AddressedSshClient(_Spawning, SshClient):  # type: ignore[misc]
    """ClusterShell's ssh client, connecting to the node's address, not its name."""

    def _build_cmd(self) -> tuple[list[str], Any]:
        cmd, env = super()._build_cmd()
        cmd[-2] = self.worker.addresses.get(self.key, self.key)  # [..., host, command]
        return cmd, env


class _SshWorker(_Collecting, WorkerSsh):  # type: ignore[misc]
    SHELL_CLASS = _AddressedSshClient

    def __init__(self, addresses: Mapping[str, str], *args: Any, **kwargs: Any) -> None:
        self.addresses = addresses
        super().__init__(*args, **kwargs)


def merged(jobs: Sequence[Job]) -> list[Job]:
    """Jobs that differ only by their nodes, as one (one worker: ClusterShell's cost is
    per worker and per event, and a node set folds into one command)."""
    groups: dict[tuple[str, bytes | None, float | None], dict[str, str]] = {}
    for job in jobs:
        groups.setdefault((job.command, job.stdin, job.timeout), {}).update(job.nodes)
    return [Job(nodes, command, stdin, timeout)
            for (command, stdin, timeout), nodes in groups.items()]


def _text(lines: list[bytes]) -> str:
    return b"\n".join(lines).decode("utf-8", errors="replace")


class ClusterShellTransport:
    """The fan-out, through ClusterShell's task of this thread."""

    def __init__(self, settings: FleetSettings) -> None:
        self.settings = settings

    def ssh_options(self) -> list[str]:
        """The ssh options every connection gets (before ClusterShell's own)."""
        ssh = self.settings.ssh
        options = list(ssh.options)
        if ssh.identity_file:
            options += ["-i", ssh.identity_file, "-oIdentitiesOnly=yes"]
        if ssh.known_hosts:
            options += [f"-oUserKnownHostsFile={ssh.known_hosts}",
                        "-oGlobalKnownHostsFile=/dev/null", "-oStrictHostKeyChecking=yes"]
        return options

    def run(self, jobs: Sequence[Job], done: Done | None = None) -> dict[str, NodeResult]:
        task = task_self()
        task.set_info("fanout", self.settings.fanout)
        task.set_info("connect_timeout", self.settings.connect_timeout)
        task.set_info("ssh_options", shlex.join(self.ssh_options()))
        task.set_info("ssh_user", self.settings.ssh.user)
        task.set_info("ssh_path", self.settings.ssh.path)
        collector = _Collector(done)
        try:
            for job in merged(jobs):
                worker = self._worker(job, collector)
                if job.stdin:
                    worker.write(job.stdin)
                worker.set_write_eof()
                task.schedule(worker)
            task.resume()
        except WorkerError as exc:
            raise FleetError(f"cannot run the command on the nodes: {exc}") from None
        missing = {n for job in jobs for n in job.nodes} - set(collector.results)
        for node in sorted(missing):  # a worker that never started its command
            collector.results[node] = NodeResult(node, None, stderr="not run")
        return collector.results

    def _worker(self, job: Job, collector: _Collector) -> Any:
        nodes = ",".join(job.nodes)
        template = self.settings.exec_template
        if template:
            command = template.replace("%c", shlex.quote(job.command).replace("%", "%%"))
            worker = _ExecWorker(nodes, handler=None, timeout=job.timeout,
                                 command=command, stderr=True)
        else:
            worker = _SshWorker(job.nodes, nodes, handler=None, timeout=job.timeout,
                                command=job.command, stderr=True)
        worker.collector = collector
        return worker
