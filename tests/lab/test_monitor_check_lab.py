"""`tandem check cell` in a real two-node cell, run in a node as Nagios's NRPE would:
OK while web runs at home on node1; after node1 crashes, is fenced and web moves,
WARNING (exit 1) on node2 naming the fenced node and the service away from home."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from enginekit import dummy_service, running_cell, started_on
from labkit import tandem_in, wait_for

pytestmark = pytest.mark.lab

LINE = re.compile(r"TANDEM CELL (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+ \| \S+(?: \S+)*\n")


def test_check_cell_before_and_after_a_crash(tmp_path: Path) -> None:
    with running_cell(tmp_path, "nchk", fencing=True, extra=dummy_service()) as cell:
        wait_for(lambda: started_on(cell, "node2", "node1"), 30, "web to start on node1")
        before = tandem_in(cell.control, "node2", "check", "cell")
        assert before.returncode == 0, before.stdout + before.stderr
        assert LINE.fullmatch(before.stdout) and before.stdout.startswith(
            f"TANDEM CELL OK - {cell.record.name} quorate, 2/2 members online, 2/2 rings "
            f"up, 1/1 services started | members_online=2;2:;;0;2 ")

        cell.control.crash("node1")
        wait_for(lambda: started_on(cell, "node2", "node2"), 40, "web to move to node2")
        after = tandem_in(cell.control, "node2", "check", "cell")
        assert after.returncode == 1, after.stdout + after.stderr
        assert LINE.fullmatch(after.stdout), after.stdout
        assert after.stdout.startswith(
            f"TANDEM CELL WARNING - {cell.record.name}: node node1 fenced; service web on "
            f"node2, not its home node1 (quorate, 1/2 members online"), after.stdout
        assert " members_online=1;2:;;0;2 " in after.stdout
        assert " services_away=1;0;;0;1" in after.stdout
