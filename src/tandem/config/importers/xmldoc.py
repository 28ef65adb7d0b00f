"""A small XML tree that remembers where each element is and what was read of it.

Importers must say, line by line, what they could not carry over. So each element keeps
its line number and a readable path (`clusternodes/clusternode[ns0]/fence`), and records
which of its attributes an importer took and whether the importer looked at it at all:
whatever is left untouched at the end is, by construction, what was not understood.

The parser is the standard library's expat, driven directly for the line numbers. A
DOCTYPE with entity declarations is refused (nothing in a configuration needs one, and
it is the way to make a parser expand a small file into gigabytes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.parsers import expat

from tandem.config.importers.errors import ImportProblem

# Attributes that name an element among its siblings, in order of preference.
KEY_ATTRIBUTES = ("name", "address", "ref")


@dataclass(eq=False)
class Element:
    """One element: tag, attributes, where it starts, and what an importer used."""

    tag: str
    attrs: dict[str, str]
    line: int
    parent: Element | None = None
    children: list[Element] = field(default_factory=list)
    path: str = ""
    used: set[str] = field(default_factory=set)
    seen: bool = False

    def take(self, name: str) -> str | None:
        """The attribute's value (None when absent), recorded as used."""
        self.seen = True
        value = self.attrs.get(name)
        if value is not None:
            self.used.add(name)
        return value

    def has(self, name: str) -> bool:
        return name in self.attrs

    def unused(self) -> list[str]:
        """Attributes nobody took, in document order."""
        return [name for name in self.attrs if name not in self.used]

    def child(self, tag: str) -> Element | None:
        """The first child called `tag` (marked seen), if any."""
        for item in self.all(tag):
            return item
        return None

    def all(self, tag: str) -> list[Element]:
        """Every child called `tag`, marked seen."""
        found = [c for c in self.children if c.tag == tag]
        for item in found:
            item.seen = True
        return found

    def walk(self) -> Iterator[Element]:
        """This element and everything below it, in document order."""
        yield self
        for item in self.children:
            yield from item.walk()

    @property
    def key(self) -> str | None:
        """What names this element among its siblings (its name, address or ref)."""
        for attr in KEY_ATTRIBUTES:
            if attr in self.attrs:
                return self.attrs[attr]
        return None


def parse_xml(text: str, source: str) -> Element:
    """The document's root element; ImportProblem (`FILE:LINE: ...`) when the text is not
    well-formed XML."""
    builder = _Builder(source)
    parser = expat.ParserCreate(encoding="utf-8")
    builder.parser = parser
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.EntityDeclHandler = builder.refuse_entity
    parser.ExternalEntityRefHandler = builder.refuse_external
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        what = (expat.ErrorString(exc.code) or "error").removeprefix("not well-formed ")
        raise ImportProblem(source, exc.lineno, f"not well-formed XML: {what.strip('()')} "
                                                f"(column {exc.offset + 1})") from None
    assert builder.root is not None  # expat refuses a document without an element
    _name_paths(builder.root, "")
    return builder.root


class _Builder:
    """expat handlers that build the Element tree."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.parser: expat.XMLParserType | None = None
        self.root: Element | None = None
        self.stack: list[Element] = []

    def _line(self) -> int:
        return self.parser.CurrentLineNumber if self.parser is not None else 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        parent = self.stack[-1] if self.stack else None
        element = Element(tag=tag, attrs=dict(attrs), line=self._line(), parent=parent)
        if parent is None:
            self.root = element
        else:
            parent.children.append(element)
        self.stack.append(element)

    def end(self, tag: str) -> None:
        self.stack.pop()

    def refuse_entity(self, name: str, *_: object) -> None:
        raise ImportProblem(self.source, self._line(),
                            f"entity declaration {name!r} refused: a cluster "
                            f"configuration has no use for one")

    def refuse_external(self, *_: object) -> int:
        raise ImportProblem(self.source, self._line(), "external entity refused")


def _name_paths(element: Element, prefix: str) -> None:
    """Give every element below `element` its readable path. The root is named by its
    tag alone; children are named `tag[key]`, or `tag[N]` when several siblings share a
    tag and have no key, or just `tag`."""
    if not prefix:
        element.path = element.tag
    counts: dict[str, int] = {}
    for item in element.children:
        counts[item.tag] = counts.get(item.tag, 0) + 1
    index: dict[str, int] = {}
    for item in element.children:
        index[item.tag] = index.get(item.tag, 0) + 1
        key = item.key
        label = (f"{item.tag}[{key}]" if key is not None else
                 f"{item.tag}[{index[item.tag]}]" if counts[item.tag] > 1 else item.tag)
        item.path = f"{prefix}/{label}" if prefix else label
        _name_paths(item, item.path)
