"""The faults drawn on the NFS cell: the campaign's generic ones aimed at HA_NFS (crash,
hang, power cycle, planned relocation), and the NFS service's own failures, each of
which its monitors must see and answer with a relocation (recovery = "relocate"):
Ganesha killed (kill -9), the service address gone, the shared file system unmounted
behind the engine's back (lazily: Ganesha holds it).

A service is not moved back by itself to a node it failed on; so that two failures in a
row do not leave it nowhere (as they rightly would), the harness then does what an
operator does once the cause is repaired: `clusvcadm -e HA_NFS`, which clears the record.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from benchlib.errors import BenchError
from chaos.cells import NFS, NFS_ADDRESS, NFS_MOUNT
from chaos.faults import (
    FaultContext,
    Injected,
    Kind,
    crash,
    hang,
    reboot,
    relocate,
    signal_kill,
)
from tandem.hpc.nfs.service import FS_MONITOR_S, IP_MONITOR_S, SERVER_MONITOR_S
from tandem.lab.holders import cmdline
from tandem.lab.proc import netns_inode, pids_in_netns

GANESHA_MARK = "ganesha.nfsd"
# Starting HA_NFS on a node (mount, port block, address, Ganesha answering RPC, ports
# open) or stopping it, generously; then the client's next retry reaching it (libnfs
# gives up a call after 1 s and reconnects).
NFS_START_S = 4.0
RECONNECT_S = 1.5
NFS_STEP_S = NFS_START_S + RECONNECT_S


def _clear_failures(ctx: FaultContext) -> Callable[[], None]:
    """The operator's `clusvcadm -e HA_NFS` after a failure was repaired."""
    def clear() -> None:
        node = next((n for n in ctx.cell.nodes if ctx.cell.usable(n)), ctx.cell.nodes[0])
        done = ctx.cell.run(node, ["clusvcadm", "-e", NFS], timeout=60)
        if done.returncode != 0:
            raise BenchError(f"clusvcadm -e {NFS} in {node} exited {done.returncode}: "
                             f"{(done.stderr or done.stdout).strip()[-200:]}")
    return clear


def _failure(ctx: FaultContext, variant: str, detail: str, monitor_s: float,
             at: float) -> Injected:
    """A failure of HA_NFS on its owner: seen within one monitor interval, then stopped
    there and started on the peer; nobody fenced."""
    owner = ctx.owners[NFS]
    return Injected(variant, _VARIANTS[variant], f"{detail} on {owner}", owner, at,
                    ctx.budget(monitor_s, ctx.start_s, ctx.start_s), frozenset({NFS}),
                    settle=_clear_failures(ctx))


_VARIANTS = {"svc-kill": "ganesha.nfsd", "addr-loss": "ip addr del",
             "mount-loss": "umount -l"}


def nfs_kill(ctx: FaultContext) -> Injected:
    """kill -9 of Ganesha in the node that runs it (found by its network namespace)."""
    owner = ctx.owners[NFS]
    inode = netns_inode(ctx.cell.lab.names.node_ns(owner))
    pids = [p for p in (pids_in_netns(inode) if inode else [])
            if GANESHA_MARK in cmdline(p)]
    if not pids:
        raise BenchError(f"no ganesha.nfsd found in {owner}")
    at = time.time()
    for pid in pids:
        signal_kill(pid)
    return _failure(ctx, "svc-kill", "ganesha.nfsd killed (SIGKILL)", SERVER_MONITOR_S, at)


def _in_owner(ctx: FaultContext, argv: list[str]) -> float:
    at = time.time()
    done = ctx.cell.run(ctx.owners[NFS], argv)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} in {ctx.owners[NFS]} exited "
                         f"{done.returncode}: {done.stderr.strip()}")
    return at


def addr_loss(ctx: FaultContext) -> Injected:
    """The service address removed from the owner's interface."""
    at = _in_owner(ctx, ["ip", "addr", "del", f"{NFS_ADDRESS}/24", "dev", "eth0"])
    return _failure(ctx, "addr-loss", f"{NFS_ADDRESS} removed from eth0", IP_MONITOR_S, at)


def mount_loss(ctx: FaultContext) -> Injected:
    """The shared file system unmounted lazily under Ganesha in the owner."""
    at = _in_owner(ctx, ["umount", "-l", NFS_MOUNT])
    return _failure(ctx, "mount-loss", f"{NFS_MOUNT} unmounted (lazily)", FS_MONITOR_S, at)


NFS_KINDS = (Kind("crash", crash, 2), Kind("hang", hang, 2), Kind("reboot", reboot),
             Kind("relocate", relocate, 2), Kind("svc-kill", nfs_kill, 2),
             Kind("addr-loss", addr_loss), Kind("mount-loss", mount_loss))
