"""`hadown`: a command that always gives the same answer, failure, whatever it is asked
(test double: shows how haservices and the engine react to a failing step)."""

from __future__ import annotations

from tandem.hpc.mgmt.errors import CheckFailed
from tandem.hpc.mgmt.tool import Tool


class Hadown(Tool):
    name = "hadown"
    summary = "always fails (test double)"
    actions = ("start", "stop", "status")

    def _fail(self, action: str) -> str:
        raise CheckFailed(f"{action}: always fails (test double)")

    def do_start(self) -> str:
        return self._fail("start")

    def do_stop(self) -> str:
        return self._fail("stop")

    def do_status(self) -> str:
        return self._fail("status")
