"""Types shared by the command modules."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeAlias

from tandem.common.errors import EXIT_USAGE, TandemError

if TYPE_CHECKING:
    Sub: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Sub = argparse._SubParsersAction


class UsageError(TandemError):
    """A command line that parsed but makes no sense; printed with exit status 2."""

    exit_code = EXIT_USAGE
