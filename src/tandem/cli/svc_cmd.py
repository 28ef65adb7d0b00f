"""`tandem svc ACTION SERVICE [--node N]`: operator requests on services, waiting for
the outcome with a progress line."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from tandem.cli.client import ControlError, call, cell_status
from tandem.cli.common import Sub
from tandem.common.status import CellStatus, ServiceStatus

ACTIONS = ("enable", "disable", "relocate", "restart", "freeze", "unfreeze", "stop")
DEFAULT_TIMEOUT_S = 60.0
FAILED_FOR_S = 5.0


def register(sub: Sub) -> None:
    svc = sub.add_parser("svc", help="enable, disable, relocate, restart, freeze services")
    svc.add_argument("action", choices=ACTIONS)
    svc.add_argument("service")
    svc.add_argument("--node", "-m", help="member to start or relocate it on")
    svc.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                     help="how long to wait for the outcome (default: %(default)s s)")
    svc.add_argument("--no-wait", action="store_true", help="return once the request is "
                                                            "recorded")
    svc.set_defaults(func=cmd_svc)


def service_row(status: CellStatus, service: str) -> ServiceStatus:
    row = status.service(service)
    if row is None:
        raise ControlError(f"unknown service {service!r}")
    return row


Check = Callable[[ServiceStatus], bool]


def outcome_check(action: str, before: ServiceStatus, node: str | None,
                  asked_at: float) -> Check:
    """When the request counts as done, judged on the service's status row."""
    def started_on(row: ServiceStatus) -> bool:
        return row.state == "started" and (node is None or row.owner == node)

    checks: dict[str, Check] = {
        "enable": started_on,
        "disable": lambda row: row.state == "disabled",
        "relocate": lambda row: started_on(row) and (node is not None
                                                     or row.owner != before.owner),
        "restart": lambda row: row.state == "started" and (row.since or 0) > asked_at,
        "freeze": lambda row: row.state == "frozen",
        "unfreeze": lambda row: row.state != "frozen",
        "stop": lambda row: row.state == "stopped",
    }
    return checks[action]


def request_and_wait(action: str, service: str, node: str | None, timeout: float,
                     *, wait: bool = True, say: Callable[[str], None] | None = None) -> int:
    """Send the request to the local daemon and follow the service until done."""
    before = service_row(cell_status(), service)
    asked_at = time.time()
    print(call("svc", {"action": action, "service": service, "node": node}))
    if not wait:
        return 0
    done = outcome_check(action, before, node, asked_at)
    deadline = time.monotonic() + timeout
    last = ""
    failed_since: float | None = None
    while True:
        status = cell_status()
        row = service_row(status, service)
        line = f"{service}: {row.state}" + (f" on {row.owner}" if row.owner else "") \
            + (f" ({row.note})" if row.note else "")
        if line != last and say is not None:
            say(line)
        last = line
        if done(row):
            print(line)
            return 0
        # "failed" can be a passing state: a failed stop is followed by fencing, and then
        # by the recovery. It is the answer only once nothing is being fenced for a while.
        if row.state == "failed" and not status.fencing:
            failed_since = failed_since or time.monotonic()
        else:
            failed_since = None
        if failed_since is not None and time.monotonic() - failed_since > FAILED_FOR_S \
                and action not in ("disable", "freeze"):
            print(f"tandem: {action} of {service} failed: {line}", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f"tandem: {action} of {service} did not complete within {timeout:g} s; "
                  f"now {line}", file=sys.stderr)
            return 1
        time.sleep(0.1)


def _progress(line: str) -> None:
    print(f"... {line}", file=sys.stderr, flush=True)


def cmd_svc(args: argparse.Namespace) -> int:
    return request_and_wait(args.action, args.service, args.node, args.timeout,
                            wait=not args.no_wait, say=_progress)
