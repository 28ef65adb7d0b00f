"""The root of every error tandem raises for an operator to read.

Library code raises a subclass of `TandemError` with a message that stands on its own
(what, where, why); the command-line boundary (`tandem.cli.guard`) prints it as
`PROG: error: MESSAGE` and exits with the class's `exit_code`. Any other exception
that reaches that boundary is a bug and keeps its traceback.

Exit codes:
- 1 (`EXIT_FAILED`, the default): something could not be done or was found wrong;
  this includes a configuration file that does not validate (`tandem config check`
  answers "bad file" with 1, as `nginx -t` or `visudo -c` do);
- 2 (`EXIT_USAGE`): the command was asked for something it cannot mean: a bad command
  line, or a management tool's own data file missing or malformed.
"""

from __future__ import annotations

from typing import ClassVar

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class TandemError(Exception):
    """An error whose message is meant for the operator as it stands."""

    exit_code: ClassVar[int] = EXIT_FAILED

    def __str__(self) -> str:
        """One line, whatever the message was built from (a command's stderr, say)."""
        text = super().__str__()
        if "\n" not in text:
            return text
        return " | ".join(part for line in text.splitlines() if (part := line.strip()))
