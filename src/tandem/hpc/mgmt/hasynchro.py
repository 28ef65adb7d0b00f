"""`hasynchro`: files that must be the same on both management nodes but cannot live on
shared storage (host keys, /etc/HA itself, ...).

Each line of /etc/HA/synchro names a file. Run on the active node only: `status` (and
`start`) compares every file with the peer's copy (content, mode, owner) and fails at
the first difference; `repair` replaces each differing copy on the peer with this
node's version (written under a temporary name, then renamed into place), and refuses
when HA_NSM runs on another member (tandem.hpc.mgmt.cellguard; --force overrides). The peer is
reached through the context's transport (ssh in production); only POSIX tools run there.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

from tandem.hpc.mgmt.cellguard import guard
from tandem.hpc.mgmt.datafile import Entry, absolute_path, parse_file
from tandem.hpc.mgmt.errors import CheckFailed
from tandem.hpc.mgmt.haip import DATA_FILE as IP_FILE
from tandem.hpc.mgmt.haip import Haip
from tandem.hpc.mgmt.hamount import DATA_FILE as MNTTAB_FILE
from tandem.hpc.mgmt.hamount import Hamount
from tandem.hpc.mgmt.nodes import find_peer
from tandem.hpc.mgmt.tool import OK, Tool, counted

DATA_FILE = "synchro"
MISSING, NOT_A_FILE = "MISSING", "NOTFILE"

# One line per file: "MODE UID GID SHA256", or MISSING, or NOTFILE.
PROBE_SCRIPT = r"""
for f in "$@"; do
  if [ -f "$f" ] && [ -r "$f" ]; then
    printf '%s %s\n' "$(stat -L -c '%a %u %g' -- "$f")" "$(sha256sum < "$f" | cut -c1-64)"
  elif [ -e "$f" ]; then echo NOTFILE
  else echo MISSING
  fi
done
"""

# Arguments: PATH MODE UID:GID; the content comes on stdin.
COPY_SCRIPT = r"""set -e
tmp="$1.tandem-sync.$$"
trap 'rm -f -- "$tmp"' EXIT
mkdir -p -- "$(dirname -- "$1")"
cat > "$tmp"
chown -- "$3" "$tmp"
chmod -- "$2" "$tmp"
mv -f -- "$tmp" "$1"
"""


@dataclass(frozen=True)
class Fingerprint:
    """What is compared: mode, owner and content digest (or why there is none)."""

    text: str

    @property
    def present(self) -> bool:
        return self.text not in (MISSING, NOT_A_FILE)

    def difference(self, other: Fingerprint) -> str:
        """How `other` (the peer's copy) differs from this one."""
        if other.text == MISSING:
            return "missing"
        if other.text == NOT_A_FILE:
            return "not a regular file"
        mine, theirs = self.text.split(), other.text.split()
        if mine[3] != theirs[3]:
            return "content differs"
        if mine[0] != theirs[0]:
            return f"mode {theirs[0]} instead of {mine[0]}"
        return f"owner {theirs[1]}:{theirs[2]} instead of {mine[1]}:{mine[2]}"


def local_fingerprint(path: str) -> tuple[Fingerprint, bytes]:
    """This node's fingerprint of `path` and its content (for copying)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return Fingerprint(NOT_A_FILE), b""
        with open(path, "rb") as handle:
            content = handle.read()
    except FileNotFoundError:
        return Fingerprint(MISSING), b""
    digest = hashlib.sha256(content).hexdigest()
    mode = format(stat.S_IMODE(st.st_mode), "o")
    return Fingerprint(f"{mode} {st.st_uid} {st.st_gid} {digest}"), content


class Hasynchro(Tool):
    name = "hasynchro"
    summary = "compare (status) or copy (repair) the files of /etc/HA/synchro to the peer"
    actions = ("start", "status", "repair")

    def entries(self) -> list[Entry[str]]:
        return parse_file(self.ctx.data(DATA_FILE), absolute_path)

    def do_start(self) -> str:
        return self.do_status()

    def do_status(self) -> str:
        peer, compared = self._compare()
        for entry, _, _, difference in compared:
            if difference:
                raise CheckFailed(f"{entry.where}: {entry.value} on {peer}: {difference}")
        return f"{OK} ({counted(len(compared), 'file')} identical on {peer})"

    def do_repair(self) -> str:
        guard(self.ctx, "copying this node's files over the active node's would undo its "
                        "changes", unknown_refuses=False)
        peer, compared = self._compare()
        copied = 0
        for entry, mine, content, difference in compared:
            if not difference:
                continue
            mode, uid, gid, _ = mine.text.split()
            result = self.ctx.run_on_peer(
                peer, ["sh", "-c", COPY_SCRIPT, "sh", self.ctx.peer_path(entry.value), mode,
                       f"{uid}:{gid}"], stdin=content)
            if not result.ok:
                raise CheckFailed(f"{entry.where}: copying {entry.value} to {peer} failed: "
                                  f"{result.tail()}")
            self.ctx.say(f"{entry.value}: copied to {peer} ({difference} there)")
            copied += 1
        return OK if not copied else f"{OK} ({counted(copied, 'file')} copied to {peer})"

    def _compare(self) -> tuple[str, list[tuple[Entry[str], Fingerprint, bytes, str]]]:
        """(peer, [(entry, our fingerprint, our content, difference or "")])."""
        entries = self.entries()
        self._require_active()
        peer = find_peer(self.ctx)
        ours = []
        for entry in entries:
            mine, content = local_fingerprint(str(self.ctx.host(entry.value)))
            if not mine.present:
                raise CheckFailed(f"{entry.where}: {entry.value} is "
                                  f"{'missing' if mine.text == MISSING else 'not a file'} "
                                  f"on this node ({self.ctx.node})")
            ours.append((entry, mine, content))
        theirs = self._peer_fingerprints(peer, [entry.value for entry in entries])
        return peer, [(entry, mine, content,
                       "" if mine == other else mine.difference(other))
                      for (entry, mine, content), other in zip(ours, theirs, strict=True)]

    def _peer_fingerprints(self, peer: str, paths: list[str]) -> list[Fingerprint]:
        if not paths:
            return []
        argv = ["sh", "-c", PROBE_SCRIPT, "sh", *(self.ctx.peer_path(p) for p in paths)]
        result = self.ctx.run_on_peer(peer, argv)
        lines = result.stdout.splitlines()
        if not result.ok or len(lines) != len(paths):
            raise CheckFailed(f"reading the files on {peer} through "
                              f"{self.ctx.transport.describe()} failed: {result.tail()}")
        found = [Fingerprint(" ".join(line.split())) for line in lines]
        for fingerprint in found:
            if fingerprint.present and len(fingerprint.text.split()) != 4:
                raise CheckFailed(f"unexpected answer from {peer}: {fingerprint.text[:80]!r}")
        return found

    def _require_active(self) -> None:
        """hasynchro copies from the active node only: its virtual addresses (else its
        shared file systems) must be here."""
        if self.ctx.force:
            return
        checks = ((IP_FILE, Haip(self.ctx).is_active), (MNTTAB_FILE, Hamount(self.ctx).is_active))
        for data_file, is_active in checks:
            if not self.ctx.data(data_file).exists():
                continue
            active = is_active()
            if active is False:
                raise CheckFailed(f"this node ({self.ctx.node}) is not the active management "
                                  f"node (see {self.ctx.data(data_file)}); hasynchro runs "
                                  f"on the active node (--force overrides)")
            if active:
                return
        raise CheckFailed(f"cannot tell whether this node is active: no address in "
                          f"{self.ctx.data(IP_FILE)} nor file system in "
                          f"{self.ctx.data(MNTTAB_FILE)} (--force overrides)")
