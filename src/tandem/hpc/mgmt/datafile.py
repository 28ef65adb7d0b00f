"""Reading the toolkit's data files: one entry per line, `#` comments and blank lines
ignored, and every malformed line reported as `FILE:LINE: problem`.

A tool gives a parser for one line's text; the parser raises LineError and this module
adds the location, so no tool formats file positions itself.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from tandem.common.errors import TandemError
from tandem.hpc.mgmt.errors import DataError

T = TypeVar("T")
_NAME_RE = re.compile(r"[A-Za-z0-9_.@+:-]+")


class LineError(TandemError, ValueError):
    """What is wrong with one line (the reader adds file and line number)."""


@dataclass(frozen=True)
class DataLine:
    """A meaningful line of a data file, with where it came from."""

    file: Path
    number: int
    text: str

    @property
    def where(self) -> str:
        return f"{self.file}:{self.number}"


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A parsed line: its value and its location (for messages about it later)."""

    line: DataLine
    value: T

    @property
    def where(self) -> str:
        return self.line.where


def data_lines(path: Path) -> list[DataLine]:
    """The lines of `path` that are neither blank nor comments (trailing blanks cut)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: data file is missing") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a data file") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.rstrip()
        if not stripped.strip() or stripped.lstrip().startswith("#"):
            continue
        lines.append(DataLine(path, number, stripped))
    return lines


def parse_file(path: Path, parse_line: Callable[[str], T]) -> list[Entry[T]]:
    """Every meaningful line of `path` through `parse_line`; DataError naming the first
    malformed line (and how many more there are) if any line does not parse."""
    entries: list[Entry[T]] = []
    problems: list[str] = []
    for line in data_lines(path):
        try:
            entries.append(Entry(line, parse_line(line.text)))
        except LineError as exc:
            problems.append(f"{line.where}: {exc}")
    if problems:
        more = f" (and {len(problems) - 1} more malformed lines)" if len(problems) > 1 else ""
        raise DataError(problems[0] + more)
    return entries


def absolute_path(text: str) -> str:
    """A line holding exactly one absolute path (no spaces), normalised."""
    value = text.strip()
    if not value.startswith("/"):
        raise LineError(f"expected an absolute path, got {value!r}")
    if any(ch.isspace() for ch in value):
        raise LineError(f"expected one absolute path without spaces, got {value!r}")
    normal = posixpath.normpath(value)
    if normal.startswith("//"):  # normpath keeps a leading double slash
        normal = "/" + normal.lstrip("/")
    return normal


def plain_name(text: str) -> str:
    """A line holding one file name (no directory part)."""
    value = text.strip()
    if value in (".", "..") or not _NAME_RE.fullmatch(value):
        raise LineError(f"expected a file name (letters, digits, ._@+:-), got {value!r}")
    return value
