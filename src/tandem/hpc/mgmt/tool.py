"""What every toolkit command is: a name, the actions it accepts, and one method per
action. An action returns a one-line summary ("OK" when nothing needed doing; empty for a pure
listing) and
raises a MgmtError when it cannot do its job."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from tandem.hpc.mgmt.context import MgmtContext
from tandem.hpc.mgmt.errors import UsageProblem

OK = "OK"


class Tool:
    """Base of the toolkit commands: subclasses set the class attributes and define a
    `do_<action>` method for each name in `actions`."""

    name: ClassVar[str]
    summary: ClassVar[str]
    actions: ClassVar[tuple[str, ...]]
    default_action: ClassVar[str | None] = None

    def __init__(self, ctx: MgmtContext) -> None:
        self.ctx = ctx

    def run(self, action: str | None) -> str:
        """Carry out `action`; UsageProblem for an action this tool does not have."""
        chosen = action or self.default_action
        if chosen is None or chosen not in self.actions:
            given = f"unknown action {chosen!r}" if chosen else "no action given"
            raise UsageProblem(f"{self.name}: {given} (expected one of: "
                               f"{', '.join(self.actions)})")
        handler: Callable[[], str] = getattr(self, f"do_{chosen}")
        return handler()

    @classmethod
    def main(cls) -> None:
        """Console-script entry under the tool's own name (pyproject: `NAME =
        "tandem.hpc.mgmt.MODULE:CLASS.main"`), with the toolkit's usual command line."""
        from tandem.cli.ha_cmd import standalone  # the command-line boundary

        standalone(cls.name)()


def counted(number: int, noun: str, plural: str = "") -> str:
    """'1 file', '3 files' (for summaries)."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
