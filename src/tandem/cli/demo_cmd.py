"""`tandem demo`: a guided walk through a virtual two-node cell.

It builds the cell from the configuration embedded in the package, shows it, powers a
node off and on again through its BMC with the real ipmitool (the way fencing will),
and removes everything. Nothing is left behind unless --keep is given.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from tandem.cli.common import Sub
from tandem.cli.render import print_json, progress_line, table
from tandem.lab import builder
from tandem.lab.names import existing_labs
from tandem.lab.nodes import NodeControl
from tandem.lab.proc import LabError
from tandem.lab.status import lab_status

DEMO_LAB = "demo"


def register(sub: Sub) -> None:
    demo = sub.add_parser("demo", help="walk through a virtual two-node cell")
    demo.add_argument("--config", help="cell configuration (default: the embedded cell2)")
    demo.add_argument("--keep", action="store_true", help="leave the lab running at the end")
    demo.add_argument("--json", action="store_true", help="print one JSON summary")
    demo.set_defaults(func=cmd_demo)


def embedded_config() -> Path:
    """The demo cell's configuration, shipped inside the package."""
    text = resources.files("tandem").joinpath("data/cell2.toml").read_text()
    path = Path(tempfile.mkdtemp(prefix="tandem-demo-")) / "cell2.toml"
    path.write_text(text)
    return path


def _ipmi(control: NodeControl, node: str, action: str) -> str:
    bmc = control.node(node).bmc
    assert bmc is not None and bmc.password is not None
    argv = control.exec_argv("client", [
        "ipmitool", "-I", "lanplus", "-H", bmc.address, "-U", bmc.user, "-P", bmc.password,
        "-N", "1", "-R", "3", "chassis", "power", action])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise LabError(f"ipmitool {action} on {node}'s BMC failed: {done.stderr.strip()}")
    return done.stdout.strip()


def cmd_demo(args: argparse.Namespace) -> int:
    config = Path(args.config) if args.config else embedded_config()
    if DEMO_LAB in existing_labs():
        progress_line("removing the previous demo lab")
        builder.lab_down(DEMO_LAB)
    steps: list[dict[str, Any]] = []

    def step(what: str, started: float) -> None:
        steps.append({"step": what, "ms": round((time.monotonic() - started) * 1000)})
        if not args.json:
            print(f"  {what} ({steps[-1]['ms']} ms)")

    t0 = time.monotonic()
    record = builder.lab_up(str(config), DEMO_LAB, start=True, progress=progress_line)
    try:
        step("built the cell: namespaces, bridges, shared disk, BMCs, nodes booted", t0)
        control = NodeControl(record)
        if not args.json:
            _show(record, control)
        victim = control.config.nodes[-1].name
        t1 = time.monotonic()
        answer = _ipmi(control, victim, "off")
        step(f"BMC of {victim}: {answer}", t1)
        status_off = _ipmi(control, victim, "status")
        step(f"BMC of {victim} now says: {status_off}", t1)
        if not args.json:
            _show(record, control)
        t2 = time.monotonic()
        _ipmi(control, victim, "on")
        step(f"BMC of {victim}: powered on, node booted", t2)
        summary = lab_status(record, control.config)
    finally:
        if not args.keep:
            t3 = time.monotonic()
            builder.lab_down(DEMO_LAB)
            step("removed the lab", t3)
    if args.json:
        print_json({"lab": DEMO_LAB, "steps": steps, "final": summary})
    elif args.keep:
        print(f"the lab is still up: `tandem lab status --lab {DEMO_LAB}`")
    return 0


def _show(record: Any, control: NodeControl) -> None:
    status = lab_status(record, control.config)
    table(["node", "power", "tandemd", "addresses", "BMC"],
          [[n["name"], f"{n['power']} ({n['condition']})", "yes" if n["daemon"] else "no",
            " ".join(n["addresses"].values()), n["bmc"]["address"] if n["bmc"] else "-"]
           for n in status["nodes"]])
