"""`halinks`: directories that live on shared storage, reached through symbolic links.

Each line of /etc/HA/links names a directory. Its shared copy is the same path with
"ha" appended to the first component (/var/lib/pgsql -> /varha/lib/pgsql, /etc/httpd ->
/etcha/httpd). `repair` keeps the local directory as NAME.orig-<date>, links NAME to the
shared copy, and seeds the shared copy from the local one when it is missing and the
shared file system is mounted; `undo` puts the newest saved directory back. Nothing is
ever deleted but the links themselves, which `repair` recreates.

A directory that is a mount point is refused at once (the manual leaves those to the
administrator), and so is a repair that would write on the shared disks while HA_NSM
runs on another member (tandem.hpc.mgmt.cellguard; --force overrides). Making the links
alone is harmless there: it is how the passive node is prepared.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from tandem.hpc.mgmt.cellguard import guard
from tandem.hpc.mgmt.datafile import Entry, LineError, absolute_path, parse_file
from tandem.hpc.mgmt.errors import CheckFailed, located
from tandem.hpc.mgmt.tool import OK, Tool, counted

DATA_FILE = "links"
SAVED_MARK = ".orig-"
STAMP_FORMAT = "%Y%m%d-%H%M%S"


def link_path(text: str) -> str:
    """A data line: the absolute path of a directory other than /."""
    path = absolute_path(text)
    if path == "/":
        raise LineError("the root directory cannot be moved to shared storage")
    return path


def shared_path(path: str) -> str:
    """Where the shared copy of `path` lives: "ha" appended to its first component."""
    first, _, rest = path.lstrip("/").partition("/")
    return f"/{first}ha/{rest}".rstrip("/")


def shared_top(path: str) -> str:
    """The shared file system `path` belongs to (/varha for /var/...)."""
    return "/" + shared_path(path).lstrip("/").split("/")[0]


def saved_copies(local: Path) -> list[Path]:
    """The NAME.orig-<date>[-N] siblings of `local`, oldest first."""
    pattern = re.compile(re.escape(local.name + SAVED_MARK) + r"(\d{8}-\d{6})(?:-(\d+))?")
    found: list[tuple[tuple[str, int], Path]] = []
    if local.parent.is_dir():
        for entry in local.parent.iterdir():
            match = pattern.fullmatch(entry.name)
            if match and entry.is_dir() and not entry.is_symlink():
                found.append(((match[1], int(match[2] or 0)), entry))
    return [path for _, path in sorted(found)]


@dataclass(frozen=True)
class _Move:
    """One directory `repair` will move to shared storage."""

    entry: Entry[str]
    local: Path
    shared: Path
    seeds: bool  # the shared copy is missing and its file system is here: write it


class Halinks(Tool):
    name = "halinks"
    summary = "check, make (repair) and undo the links to directories on shared storage"
    actions = ("start", "status", "repair", "undo")

    def entries(self) -> list[Entry[str]]:
        return parse_file(self.ctx.data(DATA_FILE), link_path)

    def do_start(self) -> str:
        return self.do_status()

    def do_status(self) -> str:
        entries = self.entries()
        for entry in entries:
            if not self.ctx.host(entry.value).is_symlink():
                raise CheckFailed(f"{entry.where}: {entry.value} is not a symbolic link "
                                  f"(`halinks repair` makes it one)")
        return OK

    # -- repair -------------------------------------------------------------------------
    def do_repair(self) -> str:
        moves = [move for entry in self.entries() if (move := self._plan(entry))]
        seeded = [shared_path(move.entry.value) for move in moves if move.seeds]
        if seeded:
            guard(self.ctx, f"writing {', '.join(seeded)} on its shared disks from here "
                            f"would corrupt them", unknown_refuses=False)
        for move in moves:  # every line was checked before anything changes
            self._move(move)
        if not moves:
            return OK
        return f"{OK} ({counted(len(moves), 'directory', 'directories')} linked)"

    def _plan(self, entry: Entry[str]) -> _Move | None:
        local = self.ctx.host(entry.value)
        shared = self.ctx.host(shared_path(entry.value))
        with located(entry.where):
            if local.is_symlink():
                return None
            if not local.exists():
                raise CheckFailed(f"{entry.value} does not exist (nothing to link)")
            if not local.is_dir():
                raise CheckFailed(f"{entry.value} is not a directory")
            if os.path.ismount(local):
                raise CheckFailed(f"{entry.value} is a mount point: halinks moves "
                                  f"directories, not file systems (unmount it, or manage "
                                  f"it with hamount and drop it from the links file)")
            if os.path.lexists(shared) and not shared.is_dir():
                raise CheckFailed(f"shared copy {shared_path(entry.value)} exists and is "
                                  f"not a directory")
        seeds = not shared.exists() and self._shared_available(shared_top(entry.value))
        return _Move(entry, local, shared, seeds)

    def _move(self, move: _Move) -> None:
        path = move.entry.value
        if move.seeds:
            self._seed(move)
        elif not move.shared.exists():
            self.ctx.say(f"{path}: shared copy {shared_path(path)} missing and "
                         f"{shared_top(path)} is not mounted: not seeded")
        backup = self._backup_name(move.local)
        try:
            os.rename(move.local, backup)
        except OSError as exc:
            raise CheckFailed(f"{move.entry.where}: cannot move {path} aside: "
                              f"{exc.strerror or exc}") from None
        try:
            os.symlink(str(move.shared), move.local)
        except OSError as exc:
            os.rename(backup, move.local)
            raise CheckFailed(f"{move.entry.where}: cannot link {path}: "
                              f"{exc.strerror or exc}") from None
        self.ctx.say(f"{path}: kept as {backup.name}, now a link to {shared_path(path)}")

    def _shared_available(self, top: str) -> bool:
        where = self.ctx.host(top)
        if self.ctx.shared_must_be_mounted:
            return os.path.ismount(where)
        return where.is_dir()

    def _seed(self, move: _Move) -> None:
        """Copy the local directory to the shared side (owners, modes, links kept),
        under a temporary name first so a failed copy never looks like a seeded one."""
        move.shared.parent.mkdir(parents=True, exist_ok=True)
        partial = move.shared.with_name(f".{move.shared.name}.tandem-seed")
        if os.path.lexists(partial):
            shutil.rmtree(partial)
        with located(move.entry.where):
            result = self.ctx.run(["cp", "-a", "--", str(move.local), str(partial)])
        if not result.ok:
            shutil.rmtree(partial, ignore_errors=True)
            raise CheckFailed(f"{move.entry.where}: seeding {shared_path(move.entry.value)} "
                              f"failed: {result.tail()}")
        os.rename(partial, move.shared)
        self.ctx.say(f"{move.entry.value}: seeded {shared_path(move.entry.value)}")

    def _backup_name(self, local: Path) -> Path:
        stem = f"{local.name}{SAVED_MARK}{self.ctx.now().strftime(STAMP_FORMAT)}"
        candidate, counter = local.with_name(stem), 1
        while os.path.lexists(candidate):
            counter += 1
            candidate = local.with_name(f"{stem}-{counter}")
        return candidate

    # -- undo ---------------------------------------------------------------------------
    def do_undo(self) -> str:
        restores = [(entry, *pair) for entry in self.entries()
                    if (pair := self._plan_undo(entry))]
        for entry, local, saved in restores:
            if local.is_symlink():
                local.unlink()
            os.rename(saved, local)
            self.ctx.say(f"{entry.value}: restored from {saved.name}")
        if not restores:
            return OK
        return f"{OK} ({counted(len(restores), 'directory', 'directories')} restored)"

    def _plan_undo(self, entry: Entry[str]) -> tuple[Path, Path] | None:
        local = self.ctx.host(entry.value)
        copies = saved_copies(local)
        with located(entry.where):
            if local.is_symlink() or not os.path.lexists(local):
                if not copies:
                    raise CheckFailed(f"no {local.name}{SAVED_MARK}<date> directory to "
                                      f"restore {entry.value} from")
                return local, copies[-1]
            if not local.is_dir():
                raise CheckFailed(f"{entry.value} is not a directory")
        return None
