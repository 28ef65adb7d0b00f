"""What `tandem cells push` sends each node on stdin: the cell's configuration, its
sha256, and (with --with-key) the cell's key and the password files its configuration
names ({path: content}). Never on a command line, never printed: the key and the
passwords are kept out of every repr, and no error message quotes the payload."""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from tandem.fleet.errors import FleetError

FORMAT = 1
MAX_BYTES = 4 << 20
KEY_HEX_DIGITS = 64


class PayloadError(FleetError):
    """A payload that cannot be installed (damaged, or not one of ours)."""


@dataclass(frozen=True)
class Payload:
    """One cell's configuration for a node, with the cell's key when it is sent."""

    cell: str
    text: str
    sha256: str
    key_hex: str | None = field(default=None, repr=False)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    def encode(self) -> bytes:
        data: dict[str, object] = {"format": FORMAT, "cell": self.cell,
                                   "config": self.text, "sha256": self.sha256}
        if self.key_hex is not None:
            data["key"] = self.key_hex
        if self.secrets:
            data["secrets"] = dict(self.secrets)
        return json.dumps(data).encode() + b"\n"


def make_payload(cell: str, text: str, key: bytes | None,
                 secrets: Mapping[str, str] | None = None) -> Payload:
    return Payload(cell, text, hashlib.sha256(text.encode()).hexdigest(),
                   key.hex() if key is not None else None, dict(secrets or {}))


def decode_payload(data: bytes) -> Payload:
    """The payload read from stdin; PayloadError (never quoting it) if it is not one."""
    if len(data) > MAX_BYTES:
        raise PayloadError(f"the payload is larger than {MAX_BYTES >> 20} MiB")
    try:
        raw = json.loads(data)
    except ValueError:
        raise PayloadError("the payload on stdin is not the JSON `tandem cells push` "
                           "sends") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise PayloadError(f"the payload is not of format {FORMAT}")
    cell, text, sha = raw.get("cell"), raw.get("config"), raw.get("sha256")
    key = raw.get("key")
    if not (isinstance(cell, str) and isinstance(text, str) and isinstance(sha, str)):
        raise PayloadError("the payload lacks its cell, config or sha256")
    if hashlib.sha256(text.encode()).hexdigest() != sha:
        raise PayloadError("the configuration in the payload does not match its sha256 "
                           "(damaged on the way?)")
    if key is not None and not _is_key(key):
        raise PayloadError(f"the key in the payload is not {KEY_HEX_DIGITS} hex digits")
    secrets = raw.get("secrets", {})
    if not isinstance(secrets, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in secrets.items()):
        raise PayloadError("the password files in the payload are not {path: text}")
    return Payload(cell, text, sha, key, secrets)


def _is_key(value: object) -> bool:
    return (isinstance(value, str) and len(value) == KEY_HEX_DIGITS
            and all(c in string.hexdigits for c in value))
