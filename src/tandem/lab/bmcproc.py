"""The process behind one lab node's virtual BMC.

It runs inside the BMC's own network namespace (so a node's power-off never kills it)
and turns IPMI chassis commands into the lab's power operations on its node.
"""

from __future__ import annotations

import argparse
import logging
import sys

from tandem.lab.bmc import run_bmc
from tandem.lab.bmcauth import load_password
from tandem.lab.names import LabNames
from tandem.lab.nodes import NodeControl
from tandem.lab.state import LabRecord


class LabPowerSwitch:
    """Power of one lab node, as its BMC sees and drives it."""

    def __init__(self, control: NodeControl, node: str) -> None:
        self.control = control
        self.node = node

    def is_on(self) -> bool:
        return self.control.power(self.node).power == "on"

    def power_off(self) -> None:
        self.control.power_off(self.node)

    def power_on(self) -> None:
        self.control.power_on(self.node)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tandem-lab-bmc")
    parser.add_argument("--lab", required=True)
    parser.add_argument("--node", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s bmc[%(process)d] %(levelname)s %(message)s")
    record = LabRecord.load(args.lab)
    control = NodeControl(record)
    node = control.node(args.node)
    bmc = node.bmc
    if bmc is None:
        logging.error("node %s has no BMC in its configuration", args.node)
        return 2
    password = load_password(LabNames(record.name), args.node)
    logging.info("BMC of %s listening on %s:%d (user %s)", args.node, bmc.address,
                 bmc.port, bmc.user)
    run_bmc(bmc.address, bmc.port, bmc.user, password, LabPowerSwitch(control, args.node))
    return 0


if __name__ == "__main__":
    sys.exit(main())
