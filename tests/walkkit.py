"""The README's walk through a site (section WALK_SECTION), read from README.md and run
line by line as written, so that the commands a reader copies are the commands the lab
test runs.

The section's `sh` blocks are read as a shell would read these simple lines: `\\`
continues a line, `#` starts a comment, `NAME="value"` sets a variable that later
lines use unquoted (`$M`, split into words). Only the lab's name changes (the README's
`site` becomes the test's own) and `tandem` is the one of this checkout. Each line is
run from the checkout's top directory, as the README says.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from tandem.lab.names import LabNames

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
WALK_SECTION = "## From an empty inventory to running cells (a walk in the lab)"
README_LAB = "site"
BIN = str(Path(sys.executable).parent)
_ASSIGN = re.compile(r"([A-Z][A-Z0-9_]*)=(.*)")
TIMEOUT_S = 180


@dataclass(frozen=True)
class Line:
    """One command of the README: its text (continuations joined) and its comment."""

    text: str
    comment: str


def readme_blocks(readme: Path = README) -> list[list[Line]]:
    """The `sh` blocks of the walk's section, as lines."""
    text = readme.read_text(encoding="utf-8")
    start = text.index(WALK_SECTION)
    end = text.find("\n## ", start + len(WALK_SECTION))
    section = text[start:end if end >= 0 else len(text)]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    return [_lines(block) for block in blocks]


def _lines(block: str) -> list[Line]:
    lines: list[Line] = []
    pending = ""
    for raw in block.splitlines():
        code, comment = _split_comment(raw)
        if pending:
            code = pending + " " + code.strip()
            pending = ""
        if code.rstrip().endswith("\\"):
            pending = code.rstrip()[:-1].rstrip()
            continue
        if code.strip():
            lines.append(Line(code.strip(), comment))
        elif comment and lines:  # a comment that goes on below its line
            lines[-1] = Line(lines[-1].text, f"{lines[-1].comment} {comment}".strip())
    return lines


def _split_comment(raw: str) -> tuple[str, str]:
    """Code and comment of a line (a `#` inside quotes is code)."""
    quote = ""
    for index, char in enumerate(raw):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or raw[index - 1].isspace()):
            return raw[:index], raw[index + 1:].strip()
    return raw, ""


@dataclass
class Walk:
    """The README's lines for lab `lab`, run one at a time; every output kept."""

    lab: str
    lines: deque[Line] = field(default_factory=deque)
    variables: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    def feed(self, lines: list[Line]) -> None:
        self.lines.extend(lines)

    def next(self, expect: str) -> Line:
        """The next command line (variables are set on the way); it must contain
        `expect`."""
        while True:
            line = self.lines.popleft()
            assigned = _ASSIGN.fullmatch(line.text)
            if assigned is None:
                break
            self.variables[assigned[1]] = shlex.split(assigned[2])[0]
        assert expect in line.text, f"README walk: expected {expect!r}, next is {line.text!r}"
        return line

    def argv(self, line: Line) -> list[str]:
        text = line.text
        for name, value in self.variables.items():
            text = text.replace(f"${name}", value)
        words = shlex.split(text)
        return [self._ours(words[i - 1] if i else "", word) for i, word in enumerate(words)]

    def _ours(self, before: str, word: str) -> str:
        """The README's lab name and lab directory made this test's."""
        if word == README_LAB and before in ("--lab", "--name", "down"):
            return self.lab
        return word.replace(f"/var/lib/tandem-lab/{README_LAB}/",
                            f"{LabNames(self.lab).directory}/")

    def run(self, expect: str, returncode: int = 0) -> subprocess.CompletedProcess[str]:
        """Run the next line (which must contain `expect`); it must exit `returncode`."""
        line = self.next(expect)
        return self.run_argv(self.argv(line), returncode, line.text)

    def run_argv(self, argv: list[str], returncode: int | None = 0,
                 what: str = "") -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "TANDEM_DB"}
        env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S,
                              check=False, cwd=REPO, env=env)
        self.outputs += [done.stdout, done.stderr]
        if returncode is not None:
            assert done.returncode == returncode, (
                f"{what or argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def on_mgmt(self, *command: str, returncode: int | None = 0
                ) -> subprocess.CompletedProcess[str]:
        """A command of the test's own on the management node (as $M does)."""
        return self.run_argv([*shlex.split(self.variables["M"].replace(
            f"--lab {README_LAB}", f"--lab {self.lab}")), *command], returncode)

    def fleet_options(self) -> list[str]:
        """The README's $F for this lab."""
        return [self._ours("", w) for w in shlex.split(self.variables["F"])]
