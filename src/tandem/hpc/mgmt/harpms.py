"""`harpms`: both management nodes must have the same packages installed, or a service
that moves may find a different program (or none) on the other side.

The lists come from rpm or dpkg (whichever this node has), or from any command given in
the context that prints `NAME VERSION` lines, run here and on the peer. `status` fails
at the first difference; `fullstatus` shows them all.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from tandem.hpc.mgmt.errors import CheckFailed
from tandem.hpc.mgmt.nodes import find_peer
from tandem.hpc.mgmt.tool import OK, Tool, counted
from tandem.util.procrun import CommandResult

Packages = dict[str, tuple[str, ...]]  # name -> installed versions (several for kernels)
NOT_INSTALLED = ("", "")  # a line read fine that names no installed package


def _rpm_line(line: str) -> tuple[str, str] | None:
    name, _, version = line.partition("\t")
    return (name, version) if name and version else None


def _dpkg_line(line: str) -> tuple[str, str] | None:
    status, name, version = [*line.split("\t"), "", ""][:3]
    if len(status) < 2 or not name or not version:
        return None
    return (name, version) if status[1] == "i" else NOT_INSTALLED


def _plain_line(line: str) -> tuple[str, str] | None:
    fields = line.split()
    return (fields[0], " ".join(fields[1:])) if len(fields) >= 2 else None


@dataclass(frozen=True)
class PackageSource:
    """A command that lists installed packages, and how to read one line of it."""

    argv: tuple[str, ...]
    read_line: Callable[[str], tuple[str, str] | None]

    def parse(self, result: CommandResult, node: str) -> Packages:
        found: dict[str, list[str]] = {}
        for line in result.stdout.splitlines():
            if not line.strip():
                continue
            item = self.read_line(line)
            if item is None:
                raise CheckFailed(f"`{shlex.join(self.argv)}` on {node} printed a line that "
                                  f"is not NAME VERSION: {line[:80]!r}")
            if item != NOT_INSTALLED:
                found.setdefault(item[0], []).append(item[1])
        return {name: tuple(sorted(versions)) for name, versions in found.items()}


RPM = PackageSource(("rpm", "-qa", "--qf", "%{NAME}.%{ARCH}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\n"),
                    _rpm_line)
DPKG = PackageSource(("dpkg-query", "-W", "-f",
                      "${db:Status-Abbrev}\t${binary:Package}\t${Version}\n"), _dpkg_line)


def differences(mine: Packages, theirs: Packages, node: str, peer: str) -> list[str]:
    """Every difference between two package lists, by package name."""
    found = []
    for name in sorted(set(mine) | set(theirs)):
        here, there = mine.get(name), theirs.get(name)
        if here == there:
            continue
        if there is None:
            found.append(f"{name} {' '.join(here or ())} only on {node}")
        elif here is None:
            found.append(f"{name} {' '.join(there)} only on {peer}")
        else:
            found.append(f"{name}: {' '.join(here)} on {node}, {' '.join(there)} on {peer}")
    return found


class Harpms(Tool):
    name = "harpms"
    summary = "compare the installed packages of both management nodes"
    actions = ("status", "fullstatus")

    def source(self) -> PackageSource:
        if self.ctx.package_command:
            return PackageSource(self.ctx.package_command, _plain_line)
        for source in (DPKG, RPM):
            if shutil.which(source.argv[0]):
                return source
        raise CheckFailed("neither dpkg-query nor rpm is installed here: give a command "
                          "that lists the packages (--package-command)")

    def _lists(self) -> tuple[str, list[str], int]:
        """(peer, differences, number of packages here)."""
        source = self.source()
        peer = find_peer(self.ctx)
        mine = self._checked(self.ctx.run(source.argv), source, self.ctx.node)
        theirs = self._checked(self.ctx.run_on_peer(peer, source.argv), source, peer)
        return peer, differences(mine, theirs, self.ctx.node, peer), len(mine)

    @staticmethod
    def _checked(result: CommandResult, source: PackageSource, node: str) -> Packages:
        if not result.ok:
            raise CheckFailed(f"`{shlex.join(source.argv)}` failed on {node} "
                              f"(exit {result.returncode}): {result.tail()}")
        return source.parse(result, node)

    def do_status(self) -> str:
        peer, found, count = self._lists()
        if found:
            raise CheckFailed(f"packages differ: {found[0]}"
                              + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""))
        return f"{OK} ({counted(count, 'package')}, same on {self.ctx.node} and {peer})"

    def do_fullstatus(self) -> str:
        peer, found, count = self._lists()
        for line in found:
            self.ctx.say(line)
        if found:
            raise CheckFailed(f"{len(found)} package differences between {self.ctx.node} "
                              f"and {peer}")
        return f"{OK} ({counted(count, 'package')}, same on {self.ctx.node} and {peer})"
