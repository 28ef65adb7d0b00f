"""Reading the answers of the other operations: what `configure` would change on each
node (from its installed configuration, tandem.fleet.remote's READ_CONFIG), and the
plain answers of push, start, stop and check."""

from __future__ import annotations

import difflib

from tandem.common.errors import TandemError
from tandem.config import parse_config
from tandem.fleet.remote import read_tagged
from tandem.fleet.report import NodeOutcome
from tandem.fleet.source import CellTarget
from tandem.fleet.transport import NodeResult


def change_verdict(target: CellTarget, result: NodeResult, *, diff: bool) -> NodeOutcome:
    """What pushing `target`'s configuration would do on this node."""
    node, version = result.node, target.config_version
    if not result.reached:
        return NodeOutcome(node, "unreachable", False, result.reason)
    if result.rc != 0:
        return NodeOutcome(node, "refused", False, result.reason)
    tagged = read_tagged(result.stdout)
    if tagged.blank:
        return NodeOutcome(node, "blank", True, f"would install version {version}",
                           None)
    if tagged.config_hash is None:
        return NodeOutcome(node, "refused", False, "unexpected answer to the "
                                                   "configuration read")
    if tagged.config_hash == target.config_hash:
        return NodeOutcome(node, "up to date", True, f"version {version}", version)
    return _differs(target, node, tagged.rest, diff)


def _differs(target: CellTarget, node: str, current: str, diff: bool) -> NodeOutcome:
    """The node has another configuration than the source's."""
    version = target.config_version
    installed = _version(current)
    if installed is not None and installed >= version:
        problem = (f"has version {installed}, newer than the source's {version}"
                   if installed > version else
                   f"has version {version} with other content (edited by hand?): raise "
                   f"config_version at the source")
        return NodeOutcome(node, "refused", False, problem, installed)
    text = target.config_text or ""
    lines = list(difflib.unified_diff(current.splitlines(), text.splitlines(),
                                      "installed", "source", lineterm=""))
    added = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
    removed = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
    was = f"version {installed}" if installed is not None else "an unreadable file"
    detail = f"would install version {version} over {was} (+{added} -{removed} lines)"
    if diff:
        detail += "\n" + "\n".join(lines)
    return NodeOutcome(node, "would change", True, detail, installed)


def _version(text: str) -> int | None:
    try:
        return parse_config(text, "installed configuration").config_version
    except TandemError:
        return None


def plain_verdict(result: NodeResult, *, failed: str = "failed") -> NodeOutcome:
    """A command's answer: ok with what it printed, or `failed` with its last error."""
    if not result.reached:
        return NodeOutcome(result.node, "unreachable", False, result.reason)
    said = " | ".join(line.strip() for line in result.stdout.splitlines() if line.strip())
    if result.rc == 0:
        return NodeOutcome(result.node, "ok", True, said)
    return NodeOutcome(result.node, failed, False, result.reason)
