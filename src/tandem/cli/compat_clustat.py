"""`clustat`'s text in the layout of RHEL 5's rgmanager (clustat.c of rgmanager 2.0),
column for column, so that site scripts written for it parse ours unchanged.

As there, the widths follow the terminal on a tty and assume 80 columns otherwise (what
a script reading a pipe gets), and a tty shows service names without "service:".
"""

from __future__ import annotations

import time

from tandem.common.status import CellStatus, ServiceStatus

SCRIPT_COLUMNS = 80  # rgmanager's width when stdout is not a terminal
MAXHOSTNAMELEN = 64
STATE_WIDTH = 14
# rgmanager's state numbers (resgroup.h): `clustat -s` exits with them
RG_STATES = {"stopped": 110, "starting": 111, "started": 112, "stopping": 113,
             "failed": 114, "recovering": 118, "disabled": 119, "frozen": 112}
# states whose owner column shows the last owner in parentheses
SHOWN_WITH_LAST_OWNER = ("stopped", "disabled", "failed")
RUNNING = ("starting", "started", "stopping", "frozen")  # `clustat -s` exits 0
NO_SUCH_SERVICE = 255  # rgmanager returns -1


def service_key(name: str) -> str:
    """`-s web` and `-s service:web` name the same service, as in rgmanager."""
    return name.split(":", 1)[1] if name.startswith("service:") else name


def rhel5_text(status: CellStatus, service: str | None, member: str | None,
               *, columns: int = SCRIPT_COLUMNS, tty: bool = False,
               long: bool = False, now: float | None = None) -> str:
    """The whole of `clustat`, as rgmanager's txt_cluster_status prints it."""
    out: list[str] = []
    if service is None and member is None:
        stamp = time.ctime(time.time() if now is None else now)
        out += [f"Cluster Status for {status.cluster} @ {stamp}",
                f"Member Status: {'Quorate' if status.quorate else 'Inquorate'}", ""]
    if service is None or member is not None:
        out += _members(status, member, columns)
    if member is None or service is not None:
        out += _services(status, service, columns, tty=tty, long=long)
    return "\n".join(out)


def exit_code(status: CellStatus, service: str | None, member: str | None) -> int:
    """rgmanager's exit status: with -s, 0 while the service runs, else its state
    number; with -m alone, 1 when the member is not online."""
    if service is not None:
        row = status.service(service_key(service))
        if row is None:
            return NO_SUCH_SERVICE
        return 0 if row.state in RUNNING else RG_STATES.get(row.state, 1)
    if member is not None:
        node = status.node(member)
        return 0 if node is not None and node.state == "online" else 1
    return 0


def _members(status: CellStatus, member: str | None, columns: int) -> list[str]:
    size = min(columns // 2, MAXHOSTNAMELEN)
    out = [f" {'Member Name':<{size}.{size}}{'ID':<4.4} Status",
           f" {'------ ----':<{size}.{size}}{'----':<4.4} ------"]
    for node in status.nodes:
        if member is not None and node.name != member:
            continue
        flags = ["Online" if node.state == "online" else "Offline"]
        if node.local:
            flags.append("Local")
        if node.state == "online":
            flags.append("rgmanager")  # every member runs tandemd: it manages services
        out.append(f" {node.name:<{size}.{size}} {node.id:>4} {', '.join(flags)}")
    if status.qdisk is not None and member is None:
        state = "Online" if status.qdisk.online else "Offline"
        out.append(f" {status.qdisk.device:<{size}.{size}} {0:>4} {state}, Quorum Disk")
    return [*out, ""]


def _services(status: CellStatus, service: str | None, columns: int, *, tty: bool,
              long: bool) -> list[str]:
    rows = [r for r in status.services
            if service is None or r.name == service_key(service)]
    if long:
        out = ["Service Information", "------- -----------", ""]
        for row in rows:
            out += _long(row)
        return out
    size = min((columns - (STATE_WIDTH + 6)) // 2, MAXHOSTNAMELEN)
    line = f" {{:<{size}.{size}}} {{:<{size}.{size}}} {{:<{STATE_WIDTH}.{STATE_WIDTH}}}"
    out = [line.format("Service Name", "Owner (Last)", "State"),
           line.format("------- ----", "----- ------", "-----")]
    for row in rows:
        if row.state in SHOWN_WITH_LAST_OWNER:
            owner = f"({(row.last_owner or 'none')[:size - 2]})"
        else:
            owner = row.owner or "none"
        out.append(line.format(row.name if tty else f"service:{row.name}", owner,
                               row.state))
    return out


def _long(row: ServiceStatus) -> list[str]:
    """One service in `clustat -l` (rgmanager's _txt_rg_state_v)."""
    return [f"Service Name      : service:{row.name}",
            f"  Current State   : {row.state} ({RG_STATES.get(row.state, 0)})",
            f"  Owner           : {row.owner or 'none'}",
            f"  Last Owner      : {row.last_owner or 'none'}",
            f"  Last Transition : {time.ctime(row.since or 0)}", ""]
