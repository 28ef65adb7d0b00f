"""Slurm in a lab cell (lab tests and benchmarks only): a slurm.conf for the cell's
controllers, munged in every node, names that resolve, and a compute host running a
real `slurmd` beside the cell.

What Slurm needs from a lab node, found by trying (LAB-NOTES.md): an /etc/hosts naming
every host (else each call stalls in DNS retries), a munged of its own (private
/run/munge) with the cluster's key, private /run/slurm and log directories, and a host
name equal to its SlurmctldHost entry (the lab's nodes already have their own UTS
namespace named after the node). The compute host lives in the lab's client network
namespace, with a mount and UTS namespace of its own made by `unshare`, so its slurmd
and munged see private directories and the name `compute1`; `lab down` kills it with
every other process of the lab's namespaces.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from collections.abc import Sequence

from tandem.lab.names import LabNames
from tandem.lab.nodes import NodeControl
from tandem.lab.proc import LabError, spawn_detached

CONF = "/etc/slurm/slurm.conf"
HOSTS_COPY = "/etc/slurm/hosts"  # bound over /etc/hosts in the node
STATE_MOUNT = "/srv/slurm"
STATE_DIR = f"{STATE_MOUNT}/state"
COMPUTE = "compute1"
NODE_DIRS = ["/srv", "/etc/slurm", "/var/log/slurm", "/var/lib/munge", "/var/log/munge",
             "/run/munge", "/run/slurm"]
# The compute host gets a tmpfs over /run (its munge and slurm directories, and slurmd's
# spool, are made in it) and over these, which the packages create on the machine:
COMPUTE_DIRS = ["/run", "/var/log/slurm", "/var/lib/munge", "/var/log/munge", "/etc/slurm"]
MUNGED = "setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged"
COMPUTE_START_TIMEOUT_S = 30.0


def slurm_conf(controllers: Sequence[tuple[str, str]], compute_address: str, *,
               timeout_s: int = 120, cpus: int = 2) -> str:
    """A small cluster: the controllers (name, address) in order, one compute node.

    No cgroups, accounting or MPI plugins (none of them runs in a lab node); whole-node
    allocation, so that a second job waits for the first (a pending job to follow)."""
    hosts = "".join(f"SlurmctldHost={name}({address})\n" for name, address in controllers)
    return f"""# Written by tandem.lab.slurm for a lab cell.
ClusterName=lab
{hosts}SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation={STATE_DIR}
SlurmdSpoolDir=/run/slurm/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/linear
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
ReturnToService=2
SlurmctldTimeout={timeout_s}
SlurmdTimeout=300
MinJobAge=3600
NodeName={COMPUTE} NodeAddr={compute_address} CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={COMPUTE} Default=YES MaxTime=INFINITE State=UP
"""


def hosts_file(names: Sequence[tuple[str, str]]) -> str:
    lines = ["127.0.0.1 localhost", *(f"{address} {name}" for name, address in names)]
    return "\n".join(lines) + "\n"


def prepare_node(control: NodeControl, node: str, conf_text: str, hosts_text: str) -> None:
    """slurm.conf and the host names in `node`, and its munged running (again after
    every boot: the lab's nodes keep /etc/slurm, not their processes or mounts)."""
    root = LabNames(control.record.name).node_root(node)
    (root / CONF.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    (root / CONF.lstrip("/")).write_text(conf_text)
    (root / HOSTS_COPY.lstrip("/")).write_text(hosts_text)
    run_in(control, node, f"""set -e
        mkdir -p {STATE_MOUNT}
        mountpoint -q /etc/hosts || mount --bind {HOSTS_COPY} /etc/hosts
        chown munge:munge /var/lib/munge /var/log/munge /run/munge
        chown slurm:slurm /var/log/slurm /run/slurm
        test -S /run/munge/munge.socket.2 || {MUNGED} </dev/null >/dev/null 2>&1
        munge -n | unmunge >/dev/null""")


def prepare_state_disk(control: NodeControl, node: str, device: str) -> None:
    """What an administrator does once: the state directory on the shared disk, owned
    by SlurmUser (mounted here for that, and unmounted again: the service mounts it)."""
    run_in(control, node, f"""set -e
        mkdir -p {STATE_MOUNT}
        mount {device} {STATE_MOUNT}
        mkdir -p {STATE_DIR}
        chown slurm:slurm {STATE_DIR}
        umount {STATE_MOUNT}""")


def run_in(control: NodeControl, node: str, script: str, timeout: float = 60.0,
           check: bool = True) -> str:
    """A shell script in `node`; its stdout (LabError when it fails and `check`)."""
    done = subprocess.run(control.exec_argv(node, ["sh", "-c", script]), capture_output=True,
                          text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise LabError(f"{node}: slurm set-up failed ({done.returncode}): "
                       f"{done.stderr.strip()[-300:]}")
    return done.stdout


class ComputeHost:
    """`compute1`: slurmd and munged in the lab's client namespace, in a mount and UTS
    namespace of their own."""

    def __init__(self, control: NodeControl) -> None:
        self.names = LabNames(control.record.name)
        self.directory = self.names.directory / "compute"
        self.pid: int | None = None

    def start(self, conf_text: str, hosts_text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "slurm.conf").write_text(conf_text)
        (self.directory / "hosts").write_text(hosts_text)
        mounts = "\n".join(f"mount -t tmpfs -o mode=0755 tmpfs {d}" for d in COMPUTE_DIRS)
        script = f"""set -eu
hostname {COMPUTE}
{mounts}
mkdir -p /run/munge /run/slurm/slurmd
cp {self.directory}/slurm.conf {CONF}
mount --bind {self.directory}/hosts /etc/hosts
chown munge:munge /var/lib/munge /var/log/munge /run/munge
chown slurm:slurm /var/log/slurm /run/slurm
{MUNGED}
exec /usr/sbin/slurmd -D -f {CONF}
"""
        argv = ["nsenter", f"--net=/run/netns/{self.names.client_ns}", "--", "unshare",
                "--mount", "--uts", "--propagation", "private", "sh", "-c", script]
        self.pid = spawn_detached(argv, self.directory / "slurmd.out")
        deadline = time.monotonic() + COMPUTE_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.run("test -S /run/munge/munge.socket.2 && test -s /run/slurm/slurmd.pid",
                        check=False).returncode == 0:
                return
            time.sleep(0.1)
        try:
            said = (self.directory / "slurmd.out").read_text(errors="replace").strip()
        except OSError:
            said = ""
        raise LabError(f"slurmd did not start on {COMPUTE} within {COMPUTE_START_TIMEOUT_S:g} "
                       f"s: {said.splitlines()[-1] if said else 'no output'}")

    def argv(self, command: Sequence[str]) -> list[str]:
        """`command` as seen from compute1 (its names, munged and slurm.conf)."""
        if self.pid is None:
            raise LabError(f"{COMPUTE} is not started")
        return ["nsenter", f"--target={self.pid}", "--mount", "--uts", "--net", "--",
                "env", f"SLURM_CONF={CONF}", *command]

    def run(self, script: str, *, check: bool = True,
            timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(self.argv(["sh", "-c", script]), capture_output=True, text=True,
                              timeout=timeout, check=False)
        if check and done.returncode != 0:
            raise LabError(f"{COMPUTE}: {shlex.quote(script)} failed ({done.returncode}): "
                           f"{done.stderr.strip()[-300:]}")
        return done


    def sbatch(self, *options: str) -> int:
        """Submit a job from compute1; its id (Slurm's acknowledgement)."""
        done = self.run("cd /tmp && sbatch --parsable " + " ".join(options), timeout=30)
        return int(done.stdout.strip().split(";")[0])

    def jobs(self, timeout: float = 90.0) -> dict[int, str] | None:
        """Job id -> state as `squeue` says from compute1 (None while it does not answer)."""
        try:
            done = self.run("squeue -h -t all -o '%i %T'", check=False, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if done.returncode != 0:
            return None
        return {int(i): state for i, state in re.findall(r"(\d+) (\S+)", done.stdout)}

    def job_state(self, job: int) -> str | None:
        done = self.run(f"scontrol show job {job}", check=False, timeout=30)
        found = re.search(r"JobState=(\S+)", done.stdout)
        return found.group(1) if found else None

    def node_state(self) -> str:
        done = self.run(f"sinfo -h -n {COMPUTE} -o %T", check=False, timeout=30)
        return done.stdout.strip().rstrip("*")


def service_text(name: str, device: str, *, mode: str = "tandem",
                 virtual: tuple[str, str] | None = None) -> str:
    """The cell's Slurm service: the state disk, then the controller (not started at
    boot: the test or benchmark prepares the nodes first). With `virtual` (host name,
    address/prefix), the service also holds the address and runs the controller under
    that name."""
    resources = [("slurm-state", "fs", f'device = "{device}", mountpoint = "{STATE_MOUNT}", '
                                       f'fstype = "ext4"')]
    ctld = f'conf = "{CONF}", mountpoint = "{STATE_MOUNT}", mode = "{mode}"'
    if virtual is not None:
        resources.append(("slurm-ip", "ip", f'address = "{virtual[1]}", interface = "eth0"'))
        ctld += f', virtual_host = "{virtual[0]}"'
    resources.append(("slurm-ctld", "slurmctld", ctld))
    blocks = "".join(f"""[[services.resources]]
name = "{res}"
agent = "{agent}"
monitor_interval_s = 5
params = {{ {params} }}
""" for res, agent, params in resources)
    return f"""
[[services]]
name = "{name}"
autostart = false
recovery = "relocate"
domain = {{ nodes = ["node1", "node2"], restricted = true, failback = false }}
{blocks}"""


__all__ = ["COMPUTE", "CONF", "NODE_DIRS", "STATE_DIR", "STATE_MOUNT", "ComputeHost",
           "hosts_file", "prepare_node", "prepare_state_disk", "run_in", "service_text",
           "slurm_conf"]
