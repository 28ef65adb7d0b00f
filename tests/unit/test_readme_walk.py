"""The README's walk through a site (run for real by tests/lab/test_fleet_site.py), read
the way that test reads it: every `tandem` command in it parses, every file it names
exists, and its bad-input lines say what each one answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tandem.cli.main import build_parser
from walkkit import REPO, Walk, readme_blocks


def _commands() -> list[list[str]]:
    """Each line's `tandem` command lines (a line run on the management node holds two:
    `tandem lab exec ... --` and the command after it)."""
    walk = Walk("site")
    found = []
    for block in readme_blocks():
        walk.feed(block)
        while walk.lines:
            words = walk.argv(walk.next(""))
            while "tandem" in words:
                words = words[words.index("tandem"):]
                end = words.index("--") if "--" in words[1:] else len(words)
                found.append(words[1:end])
                words = words[end + 1:]
    return found


def test_the_walk_has_its_two_blocks() -> None:
    walk, bad = readme_blocks()
    assert walk[0].text.startswith("tandem lab up --site examples/site --name site")
    assert walk[-1].text == "tandem lab down site"
    assert all(line.comment for line in bad)  # each says what it answers


@pytest.mark.parametrize("argv", _commands(), ids=" ".join)
def test_each_tandem_command_parses(argv: list[str]) -> None:
    parser = build_parser(argv[0])
    args = parser.parse_args(argv)
    assert getattr(args, "func", None) is not None, argv
    for word in argv:
        if word.startswith("examples/"):
            assert (REPO / word).exists(), word


def test_continued_lines_and_comments_are_read_as_sh_reads_them(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("## From an empty inventory to running cells (a walk in the lab)\n"
                      "```sh\nM=\"echo a --\"   # a comment\n$M one \\\n    two  # says 'x'\n"
                      "$M 'three # four'\n                # more of it\n```\n## Next\n")
    [block] = readme_blocks(readme)
    walk = Walk("lab1")
    walk.feed(block)
    first = walk.next("one")
    assert (walk.argv(first), first.comment) == (["echo", "a", "--", "one", "two"],
                                                 "says 'x'")
    second = walk.next("three")
    assert (walk.argv(second), second.comment) == (["echo", "a", "--", "three # four"],
                                                   "more of it")
