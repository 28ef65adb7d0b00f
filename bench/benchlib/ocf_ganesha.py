"""ocf:benchlab:ganesha, the NFS benchmark's OCF resource agent for Pacemaker: NFS-Ganesha
with the ganesha.conf tandem's `nfs_server` writes (tandem.hpc.nfs.ganesha), so that
both stacks serve the same export with the same server and the same configuration.

Why a wrapper and not ocf:heartbeat:anything: `anything` would return from start as
soon as the process exists, so the port unblock after it would open a server that does
not answer yet, and it cannot start the rpcbind an NFSv3 server needs in the node.
This agent does what tandem's `nfs_server` does, with Pacemaker's conventions: start
writes the configuration, starts rpcbind if none answers on the loopback (then it is
ours, and stop stops it), runs `ganesha.nfsd -F` and returns once NFSv3 answers a NULL
call on the loopback (the service address is still blocked then); monitor checks the
process and a NULL call on the loopback too: Pacemaker runs a resource's first monitor
right after its start, before the port unblock after it (tandem's monitor asks through
the address, but only once the whole service runs; the address has its own monitor).

Installed by the benchmark as /usr/lib/ocf/resource.d/benchlab/ganesha, with the
interpreter that runs the benchmark (tandem must be importable). Parameters: address,
export, export_id, recovery_dir, grace_s. Files: /run/benchlab-ganesha (each lab node
has a private /run).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tandem.hpc.nfs.ganesha import NFS_PROGRAM, Export, ganesha_conf

SUCCESS, GENERIC, ARGS, UNIMPLEMENTED, INSTALLED, NOT_RUNNING = 0, 1, 2, 3, 5, 7
RUN = Path("/run/benchlab-ganesha")
GANESHA, RPCBIND, RPCINFO = "/usr/bin/ganesha.nfsd", "/usr/sbin/rpcbind", "/usr/sbin/rpcinfo"
START_WAIT_S = 15.0
STOP_WAIT_S = 10.0
POLL_S = 0.1
META = """<?xml version="1.0"?>
<resource-agent name="ganesha" version="1.0">
<version>1.1</version>
<shortdesc lang="en">NFS-Ganesha with tandem's generated configuration</shortdesc>
<longdesc lang="en">NFS-Ganesha (and rpcbind if none runs) for the NFS benchmark.</longdesc>
<parameters>
<parameter name="address" required="1"><content type="string"/>
<shortdesc lang="en">service address</shortdesc></parameter>
<parameter name="export" required="1"><content type="string"/>
<shortdesc lang="en">exported directory</shortdesc></parameter>
<parameter name="export_id"><content type="integer" default="1"/>
<shortdesc lang="en">export id</shortdesc></parameter>
<parameter name="recovery_dir" required="1"><content type="string"/>
<shortdesc lang="en">NFSv4 recovery directory</shortdesc></parameter>
<parameter name="grace_s"><content type="integer" default="10"/>
<shortdesc lang="en">grace period</shortdesc></parameter>
</parameters>
<actions>
<action name="start" timeout="30s"/><action name="stop" timeout="40s"/>
<action name="monitor" timeout="15s" interval="3s"/>
<action name="meta-data" timeout="5s"/><action name="validate-all" timeout="5s"/>
</actions>
</resource-agent>
"""


def param(name: str, default: str = "") -> str:
    return os.environ.get(f"OCF_RESKEY_{name}", default)


def pid_of(name: str) -> int | None:
    """The pid recorded for `name` if that process still lives."""
    try:
        pid = int((RUN / f"{name}.pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def spawn(name: str, argv: list[str]) -> int:
    """Start a daemon in its own session, its output in RUN/NAME.log, its pid recorded."""
    with open(RUN / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
    (RUN / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def rpc_null(host: str) -> bool:
    """NFSv3 answers a NULL call on `host` over TCP."""
    try:
        done = subprocess.run([RPCINFO, "-T", "tcp", host, str(NFS_PROGRAM), "3"],
                              capture_output=True, text=True, timeout=3, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and "ready and waiting" in done.stdout


def rpcbind_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 111), timeout=1):
            return True
    except OSError:
        return False


def wait(check: Callable[[], bool], limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(POLL_S)
    return False


def start() -> int:
    if pid_of("ganesha") is not None:
        return SUCCESS if rpc_null("127.0.0.1") else GENERIC
    export, recovery = Path(param("export")), Path(param("recovery_dir"))
    if not export.is_dir() or not recovery.parent.is_dir():
        print(f"{export} or {recovery.parent} missing (is the disk mounted?)", file=sys.stderr)
        return GENERIC
    recovery.mkdir(mode=0o700, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    conf = RUN / "ganesha.conf"
    conf.write_text(ganesha_conf([Export(str(export), int(param("export_id", "1")))],
                                 str(recovery), int(param("grace_s", "10"))))
    if not rpcbind_answers():
        spawn("rpcbind", [RPCBIND, "-f", "-w"])
        if not wait(rpcbind_answers, 5.0):
            return GENERIC
    spawn("ganesha", [GANESHA, "-F", "-f", str(conf), "-L", str(RUN / "ganesha.nfsd.log"),
                      "-p", str(RUN / "ganesha.nfsd.pid")])
    ready = wait(lambda: pid_of("ganesha") is not None and rpc_null("127.0.0.1"), START_WAIT_S)
    return SUCCESS if ready else GENERIC


def stop_one(name: str) -> bool:
    """TERM, then KILL after STOP_WAIT_S; True once the process is gone."""
    pid = pid_of(name)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        if not wait(lambda: pid_of(name) is None, STOP_WAIT_S):
            os.kill(pid, signal.SIGKILL)
            if not wait(lambda: pid_of(name) is None, STOP_WAIT_S):
                return False
    (RUN / f"{name}.pid").unlink(missing_ok=True)
    return True


def stop() -> int:
    return SUCCESS if stop_one("ganesha") and stop_one("rpcbind") else GENERIC


def monitor() -> int:
    if pid_of("ganesha") is None:
        return NOT_RUNNING
    return SUCCESS if rpc_null("127.0.0.1") else GENERIC


def main(argv: list[str]) -> int:
    action = argv[1] if len(argv) > 1 else ""
    if action == "meta-data":
        print(META)
        return SUCCESS
    if action == "validate-all":
        return SUCCESS if param("address") and param("export") else ARGS
    actions = {"start": start, "stop": stop, "monitor": monitor, "status": monitor}
    if action not in actions:
        return UNIMPLEMENTED
    if not os.access(GANESHA, os.X_OK):
        return NOT_RUNNING if action in ("stop", "monitor", "status") else INSTALLED
    return actions[action]()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
