"""The cell-wide parts of cluster.conf: `<cman>` quorum, `<totem>` timing,
`<fence_daemon>`, and the elements of daemons tandem has no counterpart for.

- `two_node="1"` -> `two_node = true` (with `wait_for_all`, tandem's default for it);
  a quorum disk turns it off, as tandem requires;
- `expected_votes` -> kept when it says more than the votes of the nodes and the disk
  (equal: tandem computes it; in two-node mode it is implied);
- `port` -> `port`;
- `<totem token>` (ms) -> `timing.token_ms`; without it tandem's default (1 s) applies,
  not Cluster Suite's (10 s), and a note says so. With a quorum disk, the token is
  raised when needed so that the disk declares a dead master within it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tandem.config.importers.rhcs_context import Context
from tandem.config.importers.rhcs_qdisk import Disk
from tandem.config.importers.xmldoc import Element
from tandem.config.model import DEFAULT_HEARTBEAT_MS, DEFAULT_PORT, DEFAULT_TOKEN_MS, TimingDef

CMAN_TOKEN_MS = 10_000  # what cman used when cluster.conf set no token
TOKEN_RANGE = (50, 120_000)
UNICAST = "tandem heartbeats are unicast UDP on each network given"
CMAN_DROPPED = {
    "keyfile": "tandem authenticates with its own key (key_file; make one with "
               "`tandem keygen`)",
    "cluster_id": "tandem tells cells apart by name and key",
    "transport": UNICAST,
    "broadcast": UNICAST,
    "quorum_dev_poll": "the quorum disk's own timing (interval_ms x tko) applies",
}
TOTEM_DROPPED = {
    "secauth": "tandem always authenticates and checks the freshness of its traffic",
    "rrp_mode": "every network given is a heartbeat ring, used at the same time",
    "keyfile": "tandem authenticates with its own key (key_file)",
    "consensus": "tandem's loss timeout is the token alone",
    "join": "tandem's loss timeout is the token alone",
    "token_retransmits_before_loss_const": "tandem's loss timeout is the token alone",
}
FENCED_DROPPED = {
    "post_join_delay": "a starting tandem node never fences: it waits to see its peers "
                       "(or `tandem node unblock`)",
    "clean_start": "a starting tandem node never fences: it waits to see its peers "
                   "(or `tandem node unblock`)",
    "post_fail_delay": "tandem fences a lost node at once (a level's delay_ms can wait)",
    "override_path": "`tandem fence ack NODE` confirms a manual fence",
}
# Daemons of the Cluster Suite that tandem has no part for.
IGNORED = {
    "logging": "tandem has its own logging",
    "dlm": "tandem has no distributed lock manager",
    "gfs_controld": "tandem has no cluster file system daemon",
    "group": "tandem has no group daemon",
    "clvmd": "tandem has no clustered LVM daemon",
    "fence_xvmd": "tandem has no virtual-machine fencing daemon",
}


@dataclass(frozen=True)
class Quorum:
    two_node: bool
    expected_votes: int
    port: int


def import_quorum(ctx: Context, root: Element, votes: int, nodes: int,
                  qdisk: Disk | None) -> Quorum:
    """Two-node mode, expected votes and port from `<cman>`."""
    cman = root.child("cman")
    if cman is None:
        return Quorum(False, 0, DEFAULT_PORT)
    book = ctx.book
    two_node = book.flag(cman, "two_node", False)
    expected = book.integer(cman, "expected_votes", 0)
    port = book.integer(cman, "port", DEFAULT_PORT, minimum=1)
    if port > 65535:
        raise book.fail(cman, f"port {port} is not a UDP port")
    for attr, why in CMAN_DROPPED.items():
        book.drop(cman, attr, why)
    for multicast in cman.all("multicast"):
        book.drop_element(multicast, UNICAST)
    if two_node and qdisk is not None:
        book.note(cman, "two_node=1 not carried over: a quorum disk replaces two-node "
                        "mode")
        two_node = False
    if two_node and nodes != 2:
        raise book.fail(cman, f"two_node=1 needs exactly 2 clusternodes, not {nodes}")
    if two_node:
        book.note(cman, "wait_for_all: a booting node waits until it has seen its peer "
                        "(or `tandem node unblock`)")
        return Quorum(True, 0, port)
    total = votes + (qdisk.votes if qdisk is not None else 0)
    if expected and expected != total and expected < votes // 2 + 1:
        book.note(cman, f"expected_votes={expected} not carried over: it would let a "
                        f"minority of the {votes} node votes be quorate")
        expected = 0
    return Quorum(False, 0 if expected == total else expected, port)


def import_timing(ctx: Context, root: Element, qdisk: Disk | None) -> TimingDef:
    """The loss timeout from `<totem token>`, raised for a quorum disk if needed."""
    book = ctx.book
    totem = root.child("totem")
    given = book.integer(totem, "token", 0) if totem is not None else 0
    if totem is not None:
        for attr, why in TOTEM_DROPPED.items():
            book.drop(totem, attr, why)
    token = given or DEFAULT_TOKEN_MS
    low, high = TOKEN_RANGE
    if given and not low <= given <= high:
        token = min(max(given, low), high)
        book.note(totem or root, f"token {given} ms becomes {token} ms (tandem's range "
                                 f"is {low} to {high} ms)")
    disk_ms = qdisk.interval_ms * qdisk.tko if qdisk is not None else 0
    if disk_ms > token and qdisk is not None:
        raised = (qdisk.tko + 2) * qdisk.interval_ms
        if raised > high:
            raise book.fail(qdisk.element, f"interval x tko = {disk_ms} ms: tandem's token "
                                           f"cannot exceed {high} ms")
        book.note(qdisk.element, f"token set to {raised} ms (was {token} ms): the disk must "
                                 f"declare a dead master (interval x tko = {disk_ms} "
                                 f"ms) before the token runs out")
        token = raised
    elif not given:
        book.note(root, f"no <totem token>: tandem declares a silent node lost after "
                        f"{token} ms (Cluster Suite waited {CMAN_TOKEN_MS} ms)")
    heartbeat = max(10, min(DEFAULT_HEARTBEAT_MS, token // 4))
    return TimingDef(heartbeat_ms=heartbeat, token_ms=token)


def import_daemons(ctx: Context, root: Element) -> None:
    """Notes for `<fence_daemon>` settings and for daemons tandem has no part for."""
    fenced = root.child("fence_daemon")
    if fenced is not None:
        # What tandem does anyway: fence a lost node at once, never at start-up.
        for attr, same in (("post_fail_delay", "0"), ("clean_start", "1")):
            if (fenced.attrs.get(attr) or "").strip() == same:
                fenced.take(attr)
        for attr, why in FENCED_DROPPED.items():
            ctx.book.drop(fenced, attr, why)
    for tag, why in IGNORED.items():
        for element in root.all(tag):
            ctx.book.drop_element(element, why)

