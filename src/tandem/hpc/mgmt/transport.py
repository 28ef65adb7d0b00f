"""How the toolkit reaches the other management node.

A transport only turns "run ARGV on PEER" into a local command line; running it, the
deadline and the error messages stay in the context. Production uses ssh; the lab (or a
site with another remote shell) gives a command template instead, and anything more
exotic subclasses Transport and overrides its one method.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

PEER_PLACEHOLDER = "{peer}"


class Transport:
    """Base: `remote_argv` is the one method a transport provides."""

    def remote_argv(self, peer: str, argv: Sequence[str]) -> list[str]:
        """The local command line that runs `argv` on `peer`."""
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__


class SshTransport(Transport):
    """`ssh PEER CMD` without password prompts (the remote shell re-splits the words,
    so they are quoted here)."""

    def __init__(self, options: Sequence[str] = ("-o", "BatchMode=yes")) -> None:
        self.options = tuple(options)

    def remote_argv(self, peer: str, argv: Sequence[str]) -> list[str]:
        return ["ssh", *self.options, "--", peer, shlex.join(argv)]

    def describe(self) -> str:
        return "ssh"


class CommandTransport(Transport):
    """A command prefix such as `tandem lab exec --lab L {peer} --`, followed by the
    argv as separate words (no shell in between). An empty prefix runs locally."""

    def __init__(self, template: Sequence[str]) -> None:
        self.template = tuple(template)

    @classmethod
    def parse(cls, text: str) -> CommandTransport:
        return cls(shlex.split(text))

    def remote_argv(self, peer: str, argv: Sequence[str]) -> list[str]:
        return [word.replace(PEER_PLACEHOLDER, peer) for word in self.template] + list(argv)

    def describe(self) -> str:
        return shlex.join(self.template) or "local"
