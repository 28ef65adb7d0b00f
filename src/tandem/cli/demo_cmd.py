"""`tandem demo`: a failover in a virtual two-node cell, measured.

It builds the cell of `examples/demo-cell.toml` (embedded in the package), waits for
the web service (shared ext4 mount, virtual IP, web server), writes a file on the shared
disk through the active node, starts a client that asks for that file through the
virtual IP every 10 ms, crashes the active node, and shows the takeover: the timeline of
the surviving engine and the client-visible outage. Then it removes everything.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from tandem.cli.common import Sub
from tandem.cli.render import print_json, progress_line
from tandem.common.events import EventKind
from tandem.lab import builder
from tandem.lab.failover import FailoverResult, run_failover, wait_started
from tandem.lab.names import existing_labs
from tandem.lab.nodes import NodeControl

DEMO_LAB = "demo"
SHOWN_KINDS = {EventKind.NODE, EventKind.FENCE_START, EventKind.FENCE_DONE,
               EventKind.RESOURCE_START, EventKind.SERVICE_STARTED, EventKind.COORDINATOR,
               EventKind.QUORUM}


def register(sub: Sub) -> None:
    demo = sub.add_parser("demo", help="a measured failover in a virtual two-node cell")
    demo.add_argument("--config", help="cell configuration (default: the embedded demo cell)")
    demo.add_argument("--fault", choices=["crash", "hang"], default="crash",
                      help="how the active node fails (default: %(default)s)")
    demo.add_argument("--keep", action="store_true", help="leave the lab running at the end")
    demo.add_argument("--json", action="store_true", help="print one JSON object")
    demo.set_defaults(func=cmd_demo)


def embedded_config() -> Path:
    """The demo cell's configuration, shipped inside the package."""
    text = resources.files("tandem").joinpath("data/demo-cell.toml").read_text()
    path = Path(tempfile.mkdtemp(prefix="tandem-demo-")) / "demo-cell.toml"
    path.write_text(text)
    return path


def cmd_demo(args: argparse.Namespace) -> int:
    config_path = Path(args.config) if args.config else embedded_config()
    say = (lambda _: None) if args.json else progress_line
    if DEMO_LAB in existing_labs():
        say("removing the previous demo lab")
        builder.lab_down(DEMO_LAB)
    started = time.monotonic()
    record = builder.lab_up(str(config_path), DEMO_LAB, start=True, progress=say)
    try:
        control = NodeControl(record)
        config = control.config
        service = config.services[0].name
        owner = wait_started(control, config.nodes[0].name, service)
        say(f"cell up and {service} started on {owner} after "
            f"{time.monotonic() - started:.1f} s; a client now probes it every 10 ms")
        say(f"{args.fault} of {owner} ...")
        result = run_failover(control, config, service, fault=args.fault)
    finally:
        if not args.keep:
            builder.lab_down(DEMO_LAB)
    if args.json:
        print_json(result.to_json())
    else:
        show(result)
        if args.keep:
            print(f"\nthe lab is still up: `tandem lab status --lab {DEMO_LAB}`, "
                  f"`tandem lab down {DEMO_LAB}`")
    return 0 if result.outage_ms is not None and result.to_node else 1


def show(result: FailoverResult) -> None:
    print(f"\n{result.fault} of {result.from_node}: {result.service} taken over by "
          f"{result.to_node or 'nobody'}; fenced first: {'yes' if result.fenced else 'NO'}")
    print(f"client-visible outage: {_ms(result.outage_ms)}")
    if result.data_kept is not None:
        print("data written on the shared disk before the crash: "
              + ("served by the new owner" if result.data_kept else "MISSING"))
    print(f"\ntimeline on {result.to_node or 'the survivor'} (ms after the {result.fault}):")
    for event in result.timeline:
        if event["kind"] in SHOWN_KINDS:
            who = " ".join(x for x in (event["node"], event["service"]) if x)
            print(f"  {event['t_ms']:>6} ms  {event['kind']:<15} {who:<12} {event['detail']}")
    b = result.breakdown
    print("\nbreakdown: " + ", ".join(_parts(b)))


def _parts(b: dict[str, Any]) -> list[str]:
    return [f"detected {_ms(b.get('detected_ms'))}", f"fencing {_ms(b.get('fencing_ms'))}",
            f"resources started {_ms(b.get('resource_starts_ms'))} after fencing",
            f"first address announcement at {_ms(b.get('first_announcement_ms'))}"]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"
