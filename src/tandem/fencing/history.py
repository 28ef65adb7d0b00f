"""A bounded record of fence attempts, kept in memory and saved as JSON.

Operators read it to learn why a failover took the time it did; the service manager
reads it to know whether a node was confirmed off after it last could run a service.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from tandem.common.errors import TandemError

DEFAULT_MAXLEN = 1000
FORMAT_VERSION = 1


class FenceHistoryError(TandemError):
    """A saved history cannot be read back."""


@dataclass(frozen=True)
class FenceAttempt:
    """One device action during a fence: `off`, or `verify` (status polled until off).

    `level` counts from 1, as operators do; `outcome` is "ok", "cancelled" or the kind
    of the error ("timeout", "auth", "unreachable", "agent", "config", "error").
    """

    node: str
    level: int
    device: str
    action: str
    outcome: str
    duration_ms: int
    started_at: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the action succeeded."""
        return self.outcome == "ok"


_TYPES: dict[str, type | tuple[type, ...]] = {
    "node": str, "level": int, "device": str, "action": str, "outcome": str,
    "duration_ms": int, "started_at": (int, float), "error": (str, type(None)),
}
_REQUIRED = {f.name for f in fields(FenceAttempt) if f.name != "error"}


class FenceHistory:
    """The most recent `maxlen` attempts, oldest first."""

    def __init__(self, attempts: Iterable[FenceAttempt] = (),
                 maxlen: int = DEFAULT_MAXLEN) -> None:
        self._attempts: deque[FenceAttempt] = deque(attempts, maxlen=maxlen)

    def __len__(self) -> int:
        return len(self._attempts)

    def append(self, attempt: FenceAttempt) -> None:
        """Record one attempt (the oldest is dropped when full)."""
        self._attempts.append(attempt)

    def attempts(self, node: str | None = None) -> tuple[FenceAttempt, ...]:
        """All attempts, or those against `node`."""
        return tuple(a for a in self._attempts if node is None or a.node == node)

    def last_confirmed_off(self, node: str) -> float | None:
        """When `node` was last confirmed off (end of a successful verify), if ever."""
        for attempt in reversed(self._attempts):
            if attempt.node == node and attempt.action == "verify" and attempt.ok:
                return attempt.started_at + attempt.duration_ms / 1000.0
        return None

    def to_json(self) -> str:
        """The history as a JSON document."""
        return json.dumps({"version": FORMAT_VERSION,
                           "attempts": [asdict(a) for a in self._attempts]}, indent=1)

    @classmethod
    def from_json(cls, text: str, maxlen: int = DEFAULT_MAXLEN) -> FenceHistory:
        """Parse what `to_json` wrote; FenceHistoryError if it is not that."""
        try:
            data = json.loads(text)
            if data.get("version") != FORMAT_VERSION:
                raise FenceHistoryError(f"unsupported fence history version "
                                        f"{data.get('version')!r}")
            return cls((_attempt(item) for item in data["attempts"]), maxlen=maxlen)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise FenceHistoryError(f"malformed fence history: {exc}") from exc

    def save(self, path: str | Path) -> None:
        """Write atomically (temporary file, fsync, rename) so a crash leaves the old
        or the new history, never half of one."""
        target = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(self.to_json())
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path, maxlen: int = DEFAULT_MAXLEN) -> FenceHistory:
        """Read a saved history; an empty one when the file does not exist yet."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(maxlen=maxlen)
        except OSError as exc:
            raise FenceHistoryError(f"cannot read fence history {path}: {exc.strerror}") from exc
        try:
            return cls.from_json(text, maxlen=maxlen)
        except FenceHistoryError as exc:
            raise FenceHistoryError(f"{path}: {exc}") from exc


def _attempt(item: Any) -> FenceAttempt:
    if not isinstance(item, dict) or not item.keys() >= _REQUIRED:
        raise TypeError(f"not a fence attempt: {item!r}")
    values = {k: item[k] for k in _TYPES if k in item}
    for key, value in values.items():
        if not isinstance(value, _TYPES[key]) or isinstance(value, bool):
            raise TypeError(f"fence attempt field {key!r} has a wrong type: {value!r}")
    return FenceAttempt(**values)
