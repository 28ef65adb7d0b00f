"""Whether the management pair's service, HA_NSM, runs on another member of the cell, so
that the tools which touch the shared disks (hamount, halinks, hasynchro repair) refuse
to act behind the peer's back: the manual warns that running them by hand while the
cluster runs corrupts data.

The local tandemd is asked over its control socket (`tandem status`). The question is
injectable (`MgmtContext.nsm_place`), so tests give a fake answer without a daemon.
When the daemon does not answer, the cell configuration says whether HA_NSM is a
service at all: if it is not (or there is no cell), nobody runs it; if it is, where it
runs is unknown, and each tool decides what that means for it (`guard`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tandem.common.errors import TandemError
from tandem.common.status import CellStatus
from tandem.hpc.mgmt.errors import CheckFailed

if TYPE_CHECKING:
    from tandem.hpc.mgmt.context import MgmtContext

NSM_SERVICE = "HA_NSM"  # the service `tandem ha config-admin` generates
# Set by the haservices agent for the commands it runs: the engine itself decided that
# HA_NSM starts (or stops) here, so there is nothing to ask it.
ENGINE_ENV = "TANDEM_HA_BY_ENGINE"
ASK_TIMEOUT_S = 5.0
HERE_STATES = frozenset({"starting", "started", "stopping", "stop_failed"})


@dataclass(frozen=True)
class NsmPlace:
    """Where HA_NSM runs as this node can tell: `owner` is the member running it (None
    when nobody does); `unknown` says why it could not be told (empty when it could)."""

    owner: str | None = None
    here: bool = False
    unknown: str = ""

    @property
    def elsewhere(self) -> str | None:
        """The other member that runs HA_NSM, if one does."""
        return None if self.here or self.unknown else self.owner


def place_in(status: CellStatus) -> NsmPlace:
    """Where HA_NSM runs according to one daemon's status (nowhere if the cell has no
    such service). A node that has HA_NSM in any active state here counts as the one
    running it, whatever the cell-wide view says."""
    service = status.service(NSM_SERVICE)
    if service is None:
        return NsmPlace()
    here = service.local in HERE_STATES or service.owner == status.local
    return NsmPlace(owner=service.owner, here=here)


def ask_tandemd(ctx: MgmtContext) -> NsmPlace:
    """The default question: the local tandemd's status (see the module doc)."""
    if os.environ.get(ENGINE_ENV):
        return NsmPlace(owner=ctx.node, here=True)
    from tandem.cli.client import cell_status  # the control socket's client

    try:
        return place_in(cell_status(timeout=ASK_TIMEOUT_S))
    except TandemError as exc:
        if not _cell_has_nsm(ctx):
            return NsmPlace()
        return NsmPlace(unknown=str(exc))


def _cell_has_nsm(ctx: MgmtContext) -> bool:
    """Whether the cell configuration defines HA_NSM (True if it cannot be read: then
    the daemon's silence may hide a running service)."""
    from tandem.config import ConfigError, load_config

    if not ctx.cluster_config.exists():
        return False
    try:
        config = load_config(ctx.cluster_config)
    except ConfigError:
        return True
    return any(service.name == NSM_SERVICE for service in config.services)


def guard(ctx: MgmtContext, doing: str, *, unknown_refuses: bool) -> None:
    """Refuse (CheckFailed) when HA_NSM runs on another member; `doing` says what the
    action would then do ("mounting its disks here would corrupt them"). When where it
    runs is unknown, refuse too if `unknown_refuses`, else say so and go on. --force
    skips the question."""
    if ctx.force:
        return
    place = ctx.nsm_place(ctx)
    if place.elsewhere:
        raise CheckFailed(f"{NSM_SERVICE} runs on {place.elsewhere}: {doing} "
                          f"(use --force if you are sure)")
    if place.unknown and unknown_refuses:
        raise CheckFailed(f"cannot tell where {NSM_SERVICE} runs ({place.unknown}); if the "
                          f"peer runs it, {doing} (use --force if you are sure)")
    if place.unknown:
        ctx.say(f"cannot tell where {NSM_SERVICE} runs ({place.unknown}): going on")
