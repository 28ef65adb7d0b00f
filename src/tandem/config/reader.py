"""Typed access to a parsed TOML table that knows where it is in the file.

Each getter either returns a value of the expected type or raises a ConfigError that
names the file, the dotted key path and what was expected. Unknown keys are refused so
that a typo never silently falls back to a default.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from tandem.config.errors import ConfigError

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_MISSING = object()


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


class Section:
    """A TOML table plus its location (file and dotted path) for error messages."""

    def __init__(self, data: dict[str, Any], file: str, path: str = "") -> None:
        self.data = data
        self.file = file
        self.path = path

    def where(self, key: str | None = None) -> str:
        """Dotted path of `key` inside this table (or of the table itself)."""
        if key is None:
            return self.path or "(top level)"
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str | None, problem: str) -> ConfigError:
        """Build (not raise) an error located at `key`."""
        return ConfigError(self.file, self.where(key), problem)

    def _get(self, key: str, required: bool) -> Any:
        value = self.data.get(key, _MISSING)
        if value is _MISSING and required:
            raise self.fail(key, "is required but missing")
        return value

    def _typed(self, key: str, required: bool, kinds: tuple[type, ...], what: str) -> Any:
        value = self._get(key, required)
        if value is _MISSING:
            return None
        if isinstance(value, bool) and bool not in kinds:
            raise self.fail(key, f"expected {what}, got a boolean")
        if not isinstance(value, kinds):
            raise self.fail(key, f"expected {what}, got {_type_name(value)} ({value!r})")
        return value

    def string(self, key: str, default: str | None = None, *, pattern: str | None = None,
               required: bool = False) -> str | None:
        """A string value, optionally matching `pattern` (a regular expression)."""
        value = self._typed(key, required, (str,), "a string")
        if value is None:
            return default
        if pattern and not re.fullmatch(pattern, value):
            raise self.fail(key, f"{value!r} does not match {pattern}")
        return str(value)

    def req_string(self, key: str, *, pattern: str | None = None) -> str:
        """A required string."""
        value = self.string(key, pattern=pattern, required=True)
        assert value is not None
        return value

    def integer(self, key: str, default: int, *, minimum: int | None = None,
                maximum: int | None = None) -> int:
        """An integer within optional bounds."""
        value = self._typed(key, False, (int,), "an integer")
        if value is None:
            return default
        return self._bounded(key, value, minimum, maximum)

    def req_integer(self, key: str, *, minimum: int | None = None,
                    maximum: int | None = None) -> int:
        """A required integer within optional bounds."""
        value = self._typed(key, True, (int,), "an integer")
        return self._bounded(key, value, minimum, maximum)

    def number(self, key: str, default: float, *, minimum: float = 0.0) -> float:
        """A non-negative number (integer or float)."""
        value = self._typed(key, False, (int, float), "a number")
        if value is None:
            return default
        if value < minimum:
            raise self.fail(key, f"expected a number >= {minimum}, got {value}")
        return float(value)

    def _bounded(self, key: str, value: int, lo: int | None, hi: int | None) -> int:
        if lo is not None and value < lo:
            raise self.fail(key, f"expected an integer >= {lo}, got {value}")
        if hi is not None and value > hi:
            raise self.fail(key, f"expected an integer <= {hi}, got {value}")
        return int(value)

    def boolean(self, key: str, default: bool) -> bool:
        """A true/false value."""
        value = self._typed(key, False, (bool,), "true or false")
        return default if value is None else bool(value)

    def strings(self, key: str) -> list[str]:
        """An array of strings (empty when absent)."""
        value = self._typed(key, False, (list,), "an array of strings")
        if value is None:
            return []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise self.fail(f"{key}[{i}]", f"expected a string, got {_type_name(item)}")
        return list(value)

    def table(self, key: str, *, required: bool = False) -> Section | None:
        """A sub-table, or None when absent and not required."""
        value = self._typed(key, required, (dict,), "a table")
        if value is None:
            return None
        return Section(value, self.file, self.where(key))

    def tables(self, key: str) -> Iterator[Section]:
        """Each table of an array of tables (`[[key]]`)."""
        value = self._typed(key, False, (list,), "an array of tables")
        for i, item in enumerate(value or []):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{i}]", f"expected a table, got {_type_name(item)}")
            yield Section(item, self.file, f"{self.where(key)}[{i}]")

    def named_tables(self) -> Iterator[tuple[str, Section]]:
        """Each (name, sub-table) of a table whose keys are user-chosen names."""
        for name, item in self.data.items():
            if not isinstance(item, dict):
                raise self.fail(name, f"expected a table, got {_type_name(item)}")
            yield name, Section(item, self.file, self.where(name))

    def size(self, key: str) -> int:
        """A required size such as "512M" or "1G" (bytes), or an integer byte count."""
        value = self._get(key, True)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        if isinstance(value, str):
            match = _SIZE_RE.match(value)
            if match:
                size = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])
                if size > 0:
                    return size
        raise self.fail(key, f"expected a size such as \"512M\" or \"2G\", got {value!r}")

    def interface_address(
        self, key: str
    ) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
        """A required address with prefix length, such as "198.51.100.11/24"."""
        text = self.req_string(key)
        if "/" not in text:
            raise self.fail(key, f"expected an address with a prefix length, got {text!r}")
        try:
            return ipaddress.ip_interface(text)
        except ValueError:
            raise self.fail(key, f"expected an address/prefix such as "
                                 f"198.51.100.11/24, got {text!r}") from None

    def ip_address(self, key: str) -> str:
        """A required plain IP address (no prefix)."""
        text = self.req_string(key)
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            raise self.fail(key, f"expected an IP address, got {text!r}") from None

    def only(self, *allowed: str) -> None:
        """Refuse keys other than `allowed` (catches typos)."""
        for key in self.data:
            if key not in allowed:
                hint = ", ".join(sorted(allowed))
                raise self.fail(key, f"unknown key (allowed here: {hint})")
