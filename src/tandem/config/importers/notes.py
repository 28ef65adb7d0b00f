"""What an import tells the operator: one note per thing not carried over or changed.

Notes are collected in a `Notebook` while the importer reads the tree; at the end,
`leftovers` adds one note per element the importer never looked at and per attribute it
never took, so that nothing is dropped without a line saying so. Notes come out sorted
by line, the order an operator reads the file in.
"""

from __future__ import annotations

from dataclasses import dataclass

from tandem.config.importers.errors import ImportProblem
from tandem.config.importers.xmldoc import Element

_TRUE = ("1", "yes", "on", "true")
_FALSE = ("0", "no", "off", "false")


@dataclass(frozen=True, order=True)
class ImportNote:
    """Something of the source file that was not carried over, or was changed, and why.

    `line` is the source line of the element, `path` its place in the tree."""

    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"line": self.line, "path": self.path, "note": self.message}


class Notebook:
    """Notes, and typed reading of attributes with errors that point at the line."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.notes: list[ImportNote] = []

    def note(self, element: Element, message: str) -> None:
        """Add a note about `element` (once: the same note twice is kept once)."""
        element.seen = True
        note = ImportNote(element.line, element.path, message)
        if note not in self.notes:
            self.notes.append(note)

    def fail(self, element: Element, problem: str) -> ImportProblem:
        """An error located at `element` (to raise)."""
        return ImportProblem(self.source, element.line, f"{element.path}: {problem}")

    def drop(self, element: Element, attr: str, why: str, *, show: bool = True) -> None:
        """Take `attr` if present and note that it was not carried over (with its value
        unless `show` is false: secrets never appear in a note). An attribute already
        taken is left alone."""
        if attr in element.used:
            return
        value = element.take(attr)
        if value is not None:
            shown = f'{attr}="{value}"' if show else attr
            self.note(element, f"{shown} not carried over: {why}")

    def drop_element(self, element: Element, why: str) -> None:
        """Note that `element` was not carried over, for the whole of it (its
        attributes and children get no notes of their own)."""
        for item in element.walk():
            item.seen = True
            item.used.update(item.attrs)
        self.note(element, f"not carried over: {why}")

    def integer(self, element: Element, attr: str, default: int, *, minimum: int = 0) -> int:
        """A whole-number attribute; ImportProblem naming it when it is not one."""
        value = element.take(attr)
        if value is None or value.strip() == "":
            return default
        try:
            number = int(value.strip(), 10)
        except ValueError:
            raise self.fail(element, f'{attr}="{value}" is not a whole number') from None
        if number < minimum:
            raise self.fail(element, f'{attr}="{value}" must be at least {minimum}')
        return number

    def seconds(self, element: Element, attr: str) -> int | None:
        """A duration in seconds (a whole or decimal number) as milliseconds."""
        value = element.take(attr)
        if value is None or value.strip() == "":
            return None
        try:
            number = float(value.strip())
        except ValueError:
            raise self.fail(element, f'{attr}="{value}" is not a number of seconds') \
                from None
        if not 0 < number <= 86_400:  # also refuses nan
            raise self.fail(element, f'{attr}="{value}" is not a positive number of seconds')
        return round(number * 1000)

    def flag(self, element: Element, attr: str, default: bool) -> bool:
        """A boolean attribute written 1/0, yes/no, on/off or true/false."""
        value = element.take(attr)
        if value is None or value.strip() == "":
            return default
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise self.fail(element, f'{attr}="{value}" is neither 1 nor 0')

    def leftovers(self, root: Element) -> None:
        """One note per element never looked at (its children go with it) and per
        attribute never taken, values left out."""
        self._leftovers(root)

    def _leftovers(self, element: Element) -> None:
        if not element.seen:
            self.note(element, f"<{element.tag}> not carried over: the importer does not "
                               f"know this element")
            return
        for attr in element.unused():
            element.used.add(attr)
            self.note(element, f"{attr} not carried over: the importer does not know "
                               f"this attribute of <{element.tag}>")
        for item in element.children:
            self._leftovers(item)

    def sorted(self) -> list[ImportNote]:
        """The notes in the order of the file (stable for notes on one line)."""
        return sorted(self.notes, key=lambda n: n.line)
