"""The management toolkit in a real two-node lab cell: hamount and halinks on the shared
disk (a busy mount point, the unmount escalation, the seeded data seen from the other
node), haip with a client reaching the address, and hasynchro and harpms reaching the
peer node through `tandem lab exec` (no ssh server in the lab). Each node has its own
/etc/HA and its own system tree (the toolkit's --sysroot) in private directories."""

from __future__ import annotations

import os
import subprocess

import pytest

from labkit import sh, wait_for
from tandem.lab.nodes import NodeControl

pytestmark = pytest.mark.lab

# The toolkit's sysroot for halinks/hamount: inside a directory each lab node has its own
# copy of, so that nothing is created on the host.
TREE = "/var/lib/tandem/ha-tree"
VIP = "198.51.100.60"


def run(control: NodeControl, node: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(control.exec_argv(node, list(argv)), capture_output=True, text=True,
                          timeout=120)


def ha(control: NodeControl, node: str, tool: str, action: str,
       *options: str) -> subprocess.CompletedProcess[str]:
    """A toolkit command in a node, under its own name (as haservices would run it)."""
    return run(control, node, tool, action, *options)


def mounted(control: NodeControl, node: str, where: str) -> bool:
    return f" {where} " in sh(control, node, "cat /proc/self/mountinfo")


def cwd_is(pid: int, suffix: str) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/cwd").endswith(suffix)
    except OSError:
        return False


def test_shared_storage_links_and_mounts(control: NodeControl) -> None:
    tree = ("--sysroot", TREE)
    for node in ("node1", "node2"):
        sh(control, node, "printf '# shared\\n/dev/tandem/shared\\t/varha\\n' > /etc/HA/mnttab"
                          " && echo /var/lib/pgsql > /etc/HA/links")
    sh(control, "node1", f"mkdir -p {TREE}/var/lib/pgsql/data && "
                         f"echo 15 > {TREE}/var/lib/pgsql/data/PG_VERSION")
    assert ha(control, "node1", "hamount", "status", *tree).returncode == 1
    for _ in range(2):  # start = unmount + mount, so a second start works too
        done = ha(control, "node1", "hamount", "start", *tree)
        assert done.returncode == 0, done.stderr
    assert mounted(control, "node1", f"{TREE}/varha")
    done = ha(control, "node1", "halinks", "repair", *tree)
    assert done.returncode == 0, done.stderr
    assert "seeded /varha/lib/pgsql" in done.stdout
    assert sh(control, "node1", f"readlink {TREE}/var/lib/pgsql").strip() == \
        f"{TREE}/varha/lib/pgsql"
    assert ha(control, "node1", "halinks", "repair", *tree).stdout == "halinks repair: OK\n"
    assert ha(control, "node1", "hatstfs", "status", *tree).returncode == 0

    # A process working in the shared tree keeps the mount busy.
    holder = subprocess.Popen(control.exec_argv("node1", [
        "sh", "-c", f"cd {TREE}/var/lib/pgsql/data && exec sleep 300"]))
    try:
        wait_for(lambda: cwd_is(holder.pid, "varha/lib/pgsql/data"), 10, "the holder")
        done = ha(control, "node1", "hamount", "start", *tree)
        assert done.returncode == 1
        assert done.stderr.startswith("hamount: error: /etc/HA/mnttab:2: cannot unmount "
                                      "/varha to mount it again")
        assert holder.poll() is None and mounted(control, "node1", f"{TREE}/varha")
        done = ha(control, "node1", "hamount", "stop", *tree)
        assert done.returncode == 0, done.stderr
        assert holder.wait(timeout=30) != 0  # signalled by the escalation
        assert "SIG" in done.stdout
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    assert not mounted(control, "node1", f"{TREE}/varha")
    assert ha(control, "node1", "hamount", "status", *tree).returncode == 1
    done = ha(control, "node1", "halinks", "undo", *tree)
    assert done.returncode == 0, done.stderr
    assert sh(control, "node1", f"cat {TREE}/var/lib/pgsql/data/PG_VERSION") == "15\n"

    # The other node mounts the same disk and finds the seeded copy.
    assert ha(control, "node2", "hamount", "start", *tree).returncode == 0
    try:
        assert sh(control, "node2", f"cat {TREE}/varha/lib/pgsql/data/PG_VERSION") == "15\n"
    finally:
        assert ha(control, "node2", "hamount", "stop", *tree).returncode == 0


def ping(control: NodeControl, address: str) -> bool:
    argv = control.exec_argv("client", ["ping", "-c", "1", "-W", "1", address])
    return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0


def test_peer_tools_across_nodes(control: NodeControl) -> None:
    peer = ("--peer-command", f"tandem lab exec --lab {control.record.name} {{peer}} --")
    sh(control, "node1", f"printf '\\teth0\\t{VIP}/24\\n' > /etc/HA/ip && "
                         f"printf '/etc/HA/ip\\n/etc/HA/synchro\\n' > /etc/HA/synchro && "
                         f"printf 'bash 5.2\\nslurm 22.05\\n' > /etc/HA/pkgs")
    sh(control, "node2", "printf 'bash 5.2\\nslurm 23.02\\n' > /etc/HA/pkgs")
    done = ha(control, "node1", "hasynchro", "status", *peer)
    assert done.returncode == 1 and "is not the active management node" in done.stderr

    done = ha(control, "node1", "haip", "start")
    assert done.returncode == 0, done.stderr
    assert ha(control, "node1", "haip", "status").returncode == 0
    assert wait_for(lambda: ping(control, VIP), 10, "the virtual address")

    # The peer (node2) is found in the cell configuration; it has no copy yet.
    done = ha(control, "node1", "hasynchro", "status", *peer)
    assert (done.returncode, done.stderr) == (
        1, "hasynchro: error: /etc/HA/synchro:1: /etc/HA/ip on node2: missing\n")
    done = ha(control, "node1", "hasynchro", "repair", *peer)
    assert done.returncode == 0, done.stderr
    assert sh(control, "node2", "cat /etc/HA/ip") == f"\teth0\t{VIP}/24\n"
    assert ha(control, "node1", "hasynchro", "repair", *peer).stdout == \
        "hasynchro repair: OK\n"
    assert ha(control, "node1", "hasynchro", "status", *peer).returncode == 0
    # From the passive node the same check is refused.
    assert ha(control, "node2", "hasynchro", "status", *peer).returncode == 1

    assert ha(control, "node1", "harpms", "status", *peer).returncode == 0  # one dpkg db
    done = ha(control, "node1", "harpms", "fullstatus", *peer,
              "--package-command", "cat /etc/HA/pkgs")
    assert done.returncode == 1
    assert "slurm: 22.05 on node1, 23.02 on node2" in done.stdout

    assert ha(control, "node1", "haip", "stop").returncode == 0
    assert ha(control, "node1", "haip", "status").returncode == 1
    wait_for(lambda: not ping(control, VIP), 5, f"{VIP} to stop answering", interval=0.1)
