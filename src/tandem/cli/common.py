"""Types shared by the command modules."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    Sub: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Sub = argparse._SubParsersAction


class UsageError(Exception):
    """A command line that parsed but makes no sense; printed with exit status 2."""
