"""What an importer raises: a file it cannot use, or options that do not fit the file."""

from __future__ import annotations

from tandem.common.errors import TandemError


class ImportProblem(TandemError):
    """The file cannot be imported: not well-formed, not the expected kind of file, or
    inconsistent. Printed as `FILE:LINE: problem`, like a compiler's error, so that an
    editor can jump to it; nothing is written."""

    def __init__(self, file: str, line: int, problem: str) -> None:
        self.file = file
        self.line = line
        self.problem = problem
        super().__init__(f"{file}:{line}: {problem}")


class OptionError(TandemError):
    """A command-line option of the import is malformed or names something the file
    does not have (exit status 1, like any import that cannot be done)."""
