"""Who coordinates. Pure.

The coordinator is the lowest-id member of a quorate partition — but only if every
member of that partition agrees that it is the lowest id it can see. Under asymmetric
connectivity (A and B cannot hear each other, both hear C) the two ends of the broken
link would otherwise each believe they coordinate and shoot each other; with the check,
C's report ("the lowest node I see is A") leaves only A in charge.
"""

from __future__ import annotations

from collections.abc import Mapping


def coordinator_of(local_id: int, members: frozenset[int],
                   reported: Mapping[int, frozenset[int]],
                   excluded: frozenset[int] = frozenset()) -> int | None:
    """The coordinator as the local node sees it (None while members disagree about
    the local node being lowest). `excluded` nodes (that gave up their vote) are never
    candidates."""
    candidates = members - excluded
    if not candidates:
        return None
    lowest = min(candidates)
    if lowest != local_id:
        return lowest
    for member in candidates - {local_id}:
        theirs = reported.get(member)
        if theirs is None or min((theirs - excluded) | {member}) != local_id:
            return None
    return local_id
