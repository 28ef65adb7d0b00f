"""Configuration errors that name the file, the place and what was expected."""

from __future__ import annotations

from tandem.common.errors import TandemError


class ConfigError(TandemError):
    """A configuration file is unusable.

    The message always carries the file, the key path (or line) and the expectation,
    so that the CLI can print it as one line without a traceback.
    """

    def __init__(self, file: str, where: str, problem: str) -> None:
        self.file = file
        self.where = where
        self.problem = problem
        super().__init__(f"{file}: {where}: {problem}" if where else f"{file}: {problem}")
