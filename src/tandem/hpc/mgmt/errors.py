"""Typed failures of the management toolkit.

Each class carries the exit status the command-line boundary gives it (`exit_code`, as
every TandemError), so the CLI has one mapping from failure to status: 1 for a check or
action that failed, 2 for bad input (usage, a missing or malformed data file).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tandem.common.errors import TandemError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class MgmtError(TandemError):
    """Base of every toolkit failure; the message is one line meant for an operator."""

    exit_code = EXIT_FAILED


class CheckFailed(MgmtError):
    """A status check found something wrong, or an action could not be carried out."""


class DataError(MgmtError):
    """A data file is missing, unreadable or malformed; names the file and line."""

    exit_code = EXIT_BAD_INPUT


class UsageProblem(MgmtError):
    """The tool was asked for an action it does not have, or lacks a needed setting."""

    exit_code = EXIT_BAD_INPUT


@contextlib.contextmanager
def located(where: str) -> Iterator[None]:
    """Prefix any toolkit failure raised inside with `where` (a file:line, a path)."""
    try:
        yield
    except MgmtError as exc:
        raise type(exc)(f"{where}: {exc}") from exc
