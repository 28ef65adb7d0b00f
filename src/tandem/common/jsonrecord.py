"""Frozen dataclasses as JSON documents, both ways, driven by their type hints.

A contract between programs (the daemon's status, read by the CLI, the lab, bench and
monitoring) is written once, as dataclasses; this module turns them into the JSON
document (keys in field order, tuples as lists) and reads a document back: keys it
does not know are ignored (a newer sender may add some), a missing key without a
default or a value of the wrong type is refused with the path to it.

Supported field types: str, int, float (an int is accepted), bool, `X | None`,
`tuple[X, ...]`, `Mapping[str, X]` and other JsonRecord dataclasses.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Self

from tandem.common.errors import TandemError

# Field metadata: None is written as {} and {} read as None (an object that may be
# empty rather than null, as `heartbeat` in the status).
EMPTY_WHEN_NONE = {"empty_when_none": True}


class RecordError(TandemError):
    """A JSON document does not fit the record it is read as; names the path to the
    faulty value."""


class JsonRecord:
    """Base of a frozen dataclass that is a JSON contract."""

    def to_json(self) -> dict[str, Any]:
        """The JSON document (only dicts, lists, str, int, float, bool and None)."""
        return {f.name: _encode(getattr(self, f.name), f) for f in _fields(type(self))}

    @classmethod
    def from_json(cls, data: Any, where: str = "") -> Self:
        """Read a document; RecordError naming the path (after `where`) if it does not
        fit."""
        record: Self = _read_record(cls, data, where or cls.__name__)
        return record


Reader = Callable[[Any, str], Any]  # (value, path) -> the value checked and rebuilt


@dataclasses.dataclass(frozen=True)
class _Key:
    """How to read one field: its reader, whether it may be absent, {} for None."""

    name: str
    read: Reader
    required: bool
    empty_when_none: bool


_PLANS: dict[type, tuple[_Key, ...]] = {}  # worked out once per class: reading is hot
_SCALARS = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}


def _fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return dataclasses.fields(cls)


def _plan(cls: type) -> tuple[_Key, ...]:
    if cls not in _PLANS:
        hints = typing.get_type_hints(cls)
        _PLANS[cls] = tuple(
            _Key(f.name, _reader(hints[f.name]),
                 f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
                 bool(f.metadata.get("empty_when_none")))
            for f in _fields(cls))
    return _PLANS[cls]


def _encode(value: Any, field: dataclasses.Field[Any] | None = None) -> Any:
    if value is None and field is not None and field.metadata.get("empty_when_none"):
        return {}
    if isinstance(value, JsonRecord):
        return value.to_json()
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _encode(item) for key, item in value.items()}
    return value


def _read_record(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise RecordError(f"{where}: expected an object, got {_kind(data)}")
    values: dict[str, Any] = {}
    for key in _plan(cls):
        if key.name not in data:
            if key.required:
                raise RecordError(f"{where}: missing key {key.name!r}")
            continue
        value = data[key.name]
        if key.empty_when_none and value == {}:
            value = None
        values[key.name] = key.read(value, f"{where}.{key.name}")
    return cls(**values)


def _reader(hint: Any) -> Reader:
    """The function that checks (and for containers, rebuilds) a value of type `hint`."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        read_inner = _reader(inner)
        return lambda value, where: None if value is None else read_inner(value, where)
    if origin is tuple:
        return _sequence_reader(_reader(typing.get_args(hint)[0]))
    if origin is Mapping:
        return _mapping_reader(_reader(typing.get_args(hint)[1]))
    if isinstance(hint, type) and issubclass(hint, JsonRecord):
        return lambda value, where: _read_record(hint, value, where)
    if hint not in _SCALARS:
        raise TypeError(f"unsupported field type {hint!r}")
    return lambda value, where: _read_scalar(hint, value, where)


def _sequence_reader(read_item: Reader) -> Reader:
    def read(value: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list, got {_kind(value)}")
        return tuple(read_item(v, f"{where}[{i}]") for i, v in enumerate(value))
    return read


def _mapping_reader(read_item: Reader) -> Reader:
    def read(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise RecordError(f"{where}: expected an object, got {_kind(value)}")
        return {str(k): read_item(v, f"{where}.{k}") for k, v in value.items()}
    return read


def _read_scalar(hint: type, value: Any, where: str) -> Any:
    is_bool = isinstance(value, bool)
    fits = (is_bool if hint is bool
            else isinstance(value, int) and not is_bool if hint is int
            else isinstance(value, int | float) and not is_bool if hint is float
            else isinstance(value, str))
    if not fits:
        raise RecordError(f"{where}: expected {_SCALARS[hint]}, got {_kind(value)}")
    return float(value) if hint is float else value


def _kind(value: Any) -> str:
    return "null" if value is None else f"{type(value).__name__} {value!r:.40}"
