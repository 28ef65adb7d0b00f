"""The `nfs_server` agent running a real NFS-Ganesha in a lab node, used by a real client.

node1 mounts the shared disk at /srv/nfs (the export and the NFSv4 recovery directory
live on it) and holds the service address; the agent starts rpcbind and Ganesha there.
Each node has its own /run (rpcbind's lock and socket live there) and /srv. From the
client namespace, libnfs's tools list, write and read the export through the service
address, and NLM is not offered (the documented locking choice). A server killed behind
the agent's back fails status, and after stop nothing the agent started remains.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit import ERR_GENERIC, NOT_RUNNING, SUCCESS, agent, contract
from labkit import node_lab, sh, stem_of, wait_for
from tandem.lab.nodes import NodeControl

pytestmark = pytest.mark.lab

PACKAGES = ("nfs-ganesha", "nfs-ganesha-vfs", "rpcbind", "libnfs-utils")
ADDRESS = "198.51.100.70"
DISK = "/dev/tandem/shared"
MOUNT = "/srv/nfs"
EXPORT = f"{MOUNT}/export"
URL = f"nfs://{ADDRESS}{EXPORT}"
PARAMS = (f"address={ADDRESS}", "exports=" + json.dumps([{"path": EXPORT, "id": 7}]),
          f"recovery_dir={MOUNT}/.nfs-recovery", "grace_s=5")
PIDFILES = ("/run/tandem/nfs/res.pid", "/run/tandem/nfs/res-rpcbind.pid")


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory,
            request: pytest.FixtureRequest) -> Iterator[NodeControl]:
    """The module's lab: each node with a private /run and /srv."""
    if not all(Path(p).exists() for p in ("/usr/bin/ganesha.nfsd", "/usr/sbin/rpcbind",
                                          "/usr/bin/nfs-cat")):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        done = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                               *PACKAGES], env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"installing NFS-Ganesha failed: {done.stderr[-500:]}"
    stem = stem_of(request)
    with node_lab(tmp_path_factory.mktemp(stem), stem, bmc=False,
                  private_dirs='["/etc/HA", "/srv", "/run"]') as made:
        yield made


@pytest.fixture()
def served(control: NodeControl) -> Iterator[None]:
    """node1 holds the disk and the address; afterwards the server is stopped and both
    are released, whatever the test did."""
    sh(control, "node1", f"mkdir -p {MOUNT} && mount {DISK} {MOUNT} && mkdir -p {EXPORT} && "
                         f"ip addr add {ADDRESS}/24 dev eth0")
    try:
        yield
    finally:
        agent(control, "node1", "nfs_server", "stop", *PARAMS)
        sh(control, "node1", f"ip addr del {ADDRESS}/24 dev eth0; umount {MOUNT}", check=False)


def nfs(action: str, control: NodeControl) -> tuple[int, str]:
    outcome = agent(control, "node1", "nfs_server", action, *PARAMS)
    return outcome.code, outcome.message


def client(control: NodeControl, command: str) -> str:
    """Run a command in the client namespace (it shares the machine's file system)."""
    return sh(control, "client", command, timeout=30)


def test_contract(control: NodeControl, served: None) -> None:
    contract(control, "node1", "nfs_server", *PARAMS,
             witness=f"rpcinfo -T tcp {ADDRESS} 100003 3")


def test_a_real_client_writes_and_reads_through_the_address(
        control: NodeControl, served: None, tmp_path: Path) -> None:
    began = time.monotonic()
    code, message = nfs("start", control)
    elapsed = time.monotonic() - began
    assert code == SUCCESS, message
    print(f"\nnfs_server start: {message}; `tandem agent run start` took {elapsed:.2f} s")
    assert "ready and waiting" in client(control, f"rpcinfo -T tcp {ADDRESS} 100003 3")
    assert "ready and waiting" in client(control, f"rpcinfo -T tcp {ADDRESS} 100005 3")
    ports = client(control, f"rpcinfo -p {ADDRESS}")
    assert " 2049 " in ports and " 20048 " in ports and "100021" not in ports  # no NLM
    nlm = subprocess.run(control.exec_argv("client", ["rpcinfo", "-T", "tcp", ADDRESS,
                                                      "100021", "4"]),
                         capture_output=True, text=True, timeout=30)
    assert nlm.returncode != 0 and "Program not registered" in nlm.stderr + nlm.stdout
    local = tmp_path / "record.txt"
    local.write_text("record 1 through the service address\n")
    client(control, f"nfs-cp {local} {URL}/record.txt")
    assert "record.txt" in client(control, f"nfs-ls {URL}")
    assert client(control, f"nfs-cat {URL}/record.txt") == local.read_text()
    assert client(control, f"nfs-cat '{URL}/record.txt?version=4'") == local.read_text()
    assert sh(control, "node1", f"cat {EXPORT}/record.txt") == local.read_text()  # on disk
    assert sh(control, "node1", f"ls {MOUNT}/.nfs-recovery").split() != []
    assert nfs("monitor", control)[0] == SUCCESS


def test_killed_server_fails_status_and_stop_leaves_nothing(
        control: NodeControl, served: None) -> None:
    assert nfs("start", control)[0] == SUCCESS
    ganesha, rpcbind = (int(sh(control, "node1", f"cat {path}").split()[0])
                        for path in PIDFILES)
    assert "ganesha.nfsd" in Path(f"/proc/{ganesha}/cmdline").read_text()
    assert "rpcbind" in Path(f"/proc/{rpcbind}/cmdline").read_text()
    sh(control, "node1", f"kill -9 {ganesha}")
    wait_for(lambda: not alive(ganesha), 10, "ganesha to die")
    code, message = nfs("status", control)
    assert code == ERR_GENERIC and "ganesha.nfsd died" in message, message
    assert nfs("stop", control)[0] == SUCCESS
    assert not alive(rpcbind), "the rpcbind the agent started outlived stop"
    assert nfs("status", control)[0] == NOT_RUNNING
    assert sh(control, "node1", f"ls {' '.join(PIDFILES)} 2>/dev/null", check=False) == ""
    # The address still answers pings, but no server: the client gets a clear refusal.
    refused = subprocess.run(control.exec_argv("client", ["rpcinfo", "-T", "tcp", ADDRESS,
                                                          "100003", "3"]),
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (nodes share the machine's pid space)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False
