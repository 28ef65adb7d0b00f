"""The NFS-Ganesha configuration of an `nfs_server` resource, generated from its exports
(pure: parameters in, ganesha.conf text out; nothing here touches the node).

What makes the server movable between the two nodes of a cell:

- Fixed ports (NFS_PORT, MNT_PORT, NLM_PORT, RQUOTA_PORT): firewalls and the `portblock`
  resource name them, and a client that cached a port finds the same one on the peer.
- One EXPORT block per export, with `Export_Id` and `Filesystem_id` taken from the
  export's configured id: NFSv3 file handles carry the export id, and clients compare
  file-system ids, so a handle made on one node is still valid on the other.
- NFSv4 client recovery state (`RecoveryBackend = fs`) under `recovery_dir`, on the
  failover disk: the peer knows which clients may reclaim their state during grace.
- A short grace period (`grace_s`, also the lease time): after a move, NFSv4 opens and
  NFSv3 creates wait at most this long (LAB-NOTES measured grace = Grace_Period).

Locking: NLM is switched off (`Enable_NLM = false`). NLM would need rpc.statd with its
state on the shared disk and reboot notifications sent from the service address, which
the lab cannot prove with a real client (libnfs has no NLM client; the kernel client is
absent). With NLM off, program 100021 is not registered with rpcbind, so an NFSv3
client that asks for a lock gets a clear "no lock manager" error (ENOLCK; mount with
`nolock` for node-local locks) instead of a lock that silently dies with a failover.
NFSv4 locks are part of the NFSv4 protocol and are recovered through the recovery
directory during grace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tandem.resources.base import ParamError

NFS_PORT = 2049  # nfsd, the IANA port every client tries first
MNT_PORT = 20048  # mountd, the port Linux's rpc.mountd uses when fixed
NLM_PORT = 32803  # lockd, the customary fixed port (unused: NLM is off, see above)
RQUOTA_PORT = 875  # rquotad, its IANA port
NFS_PROGRAM = 100003
MOUNT_PROGRAM = 100005
NLM_PROGRAM = 100021

ACCESS_TYPES = ("RW", "RO", "MDONLY", "MDONLY_RO", "NONE")
SQUASHES = ("no_root_squash", "root_squash", "all_squash", "root_id_squash")
EXPORT_KEYS = ("path", "id", "clients", "access", "squash")
MAX_EXPORT_ID = 65535
# Paths and client lists are written into the configuration between quotes: anything
# that could end the string or the block is refused instead of escaped.
PATH_RE = r"/[A-Za-z0-9._+@%=,:/-]*"
CLIENTS_RE = r"[A-Za-z0-9.*?:/_@-]+( *, *[A-Za-z0-9.*?:/_@-]+)*"


@dataclass(frozen=True)
class Export:
    """One exported directory, as the resource's `exports` list gives it."""

    path: str
    id: int
    clients: str = "*"
    access: str = "RW"
    squash: str = "no_root_squash"

    @property
    def filesystem_id(self) -> str:
        """Major.minor reported to clients; derived from the id alone, so both nodes
        report the same for the same export."""
        return f"{self.id}.{self.id}"


def parse_exports(resource: str, raw: Sequence[Any]) -> tuple[Export, ...]:
    """The exports of `raw` (a list of tables), checked; ParamError naming the entry
    and key otherwise (absolute paths, ids 1..65535, no id or path twice)."""
    if not raw:
        raise ParamError(resource, "exports", "at least one export is required")
    exports = tuple(_one_export(resource, f"exports[{i}]", entry) for i, entry in enumerate(raw))
    for key in ("id", "path"):
        seen: set[object] = set()
        for i, export in enumerate(exports):
            value = getattr(export, key)
            if value in seen:
                raise ParamError(resource, f"exports[{i}].{key}", f"{value!r} appears twice")
            seen.add(value)
    return exports


def _one_export(resource: str, where: str, entry: object) -> Export:
    if not isinstance(entry, Mapping):
        raise ParamError(resource, where, "expected a table { path = ..., id = ... }")
    for key in entry:
        if key not in EXPORT_KEYS:
            raise ParamError(resource, f"{where}.{key}",
                             f"unknown key (an export takes: {', '.join(EXPORT_KEYS)})")
    for key in ("path", "id"):
        if key not in entry:
            raise ParamError(resource, f"{where}.{key}", "is required")
    export = Export(**dict(entry))
    _check_export(resource, where, export)
    return export


def _check_export(resource: str, where: str, export: Export) -> None:
    path, ident = export.path, export.id
    if not isinstance(path, str) or not re.fullmatch(PATH_RE, path) or "/../" in path + "/":
        raise ParamError(resource, f"{where}.path", f"expected an absolute path, got {path!r}")
    if isinstance(ident, bool) or not isinstance(ident, int) or not 1 <= ident <= MAX_EXPORT_ID:
        raise ParamError(resource, f"{where}.id",
                         f"expected an integer 1..{MAX_EXPORT_ID}, got {ident!r}")
    if not isinstance(export.clients, str) or not re.fullmatch(CLIENTS_RE, export.clients):
        raise ParamError(resource, f"{where}.clients",
                         f'expected "*" or host names, addresses and networks, '
                         f"got {export.clients!r}")
    if export.access not in ACCESS_TYPES:
        raise ParamError(resource, f"{where}.access",
                         f"expected one of {', '.join(ACCESS_TYPES)}, got {export.access!r}")
    if export.squash not in SQUASHES:
        raise ParamError(resource, f"{where}.squash",
                         f"expected one of {', '.join(SQUASHES)}, got {export.squash!r}")


def ganesha_conf(exports: Sequence[Export], recovery_dir: str, grace_s: int) -> str:
    """The whole ganesha.conf for these exports."""
    blocks = [_core_block(), _v4_block(recovery_dir, grace_s),
              *(_export_block(export) for export in exports)]
    return "# Generated by tandem (nfs_server resource): edits are overwritten.\n\n" + \
        "\n".join(blocks)


def _core_block() -> str:
    return (
        "NFS_CORE_PARAM {\n"
        "    Protocols = 3, 4;\n"
        f"    NFS_Port = {NFS_PORT};\n"
        f"    MNT_Port = {MNT_PORT};\n"
        f"    NLM_Port = {NLM_PORT};\n"
        f"    Rquota_Port = {RQUOTA_PORT};\n"
        "    Enable_NLM = false;\n"
        "    Enable_RQUOTA = true;\n"
        "}\n")


def _v4_block(recovery_dir: str, grace_s: int) -> str:
    return (
        "NFSv4 {\n"
        "    RecoveryBackend = fs;\n"
        f'    RecoveryRoot = "{recovery_dir}";\n'
        f"    Grace_Period = {grace_s};\n"
        f"    Lease_Lifetime = {grace_s};\n"
        "}\n")


def _export_block(export: Export) -> str:
    return (
        "EXPORT {\n"
        f"    Export_Id = {export.id};\n"
        f"    Filesystem_id = {export.filesystem_id};\n"
        f'    Path = "{export.path}";\n'
        f'    Pseudo = "{export.path}";\n'
        "    Protocols = 3, 4;\n"
        "    Transports = TCP, UDP;\n"
        "    Access_Type = NONE;\n"
        f"    Squash = {export.squash};\n"
        "    FSAL { Name = VFS; }\n"
        f"    CLIENT {{ Clients = {_client_list(export.clients)}; "
        f"Access_Type = {export.access}; }}\n"
        "}\n")


def _client_list(clients: str) -> str:
    """`a,b` as Ganesha's list of clients `a, b` (bare words: Ganesha refuses a quoted
    client, and CLIENTS_RE lets through no character that could end the list)."""
    return ", ".join(client.strip() for client in clients.split(","))
