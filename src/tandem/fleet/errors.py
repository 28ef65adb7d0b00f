"""Errors of the operations over many cells (one line each, as every TandemError)."""

from __future__ import annotations

from tandem.common.errors import EXIT_USAGE, TandemError


class FleetError(TandemError):
    """An operation over cells could not be done (nothing was sent when it is raised
    before the fan-out)."""


class SelectionError(FleetError):
    """A selection that names nothing, or names what no cell has: bad input (exit 2)."""

    exit_code = EXIT_USAGE
