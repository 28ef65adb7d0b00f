"""The reliability campaign's NFS cell, short (bench/campaign.py --faults 0 --nfs 6
--seed 28): HA_NFS on its own 2-node cell, six seeded faults (seed 28 draws a crash, a
hang, Ganesha killed, the address lost, the mount point lost and a relocation), with
the real NFSv3 client writing through one file handle all along and reading every
acknowledged record back after each fault.

It fails on what the campaign fails on (see test_campaign_short.py), and here also on a
stale handle or an acknowledged record that does not read back; it runs apart from the
short campaign so that CI's campaign stays as short as it was (this costs about 30 s).
"""

from __future__ import annotations

import os

import pytest

from benchlib.labs import PREFIX
from chaos.campaign import Options, run_campaign
from chaos.nfsfaults import NFS_KINDS
from labkit import host_links
from tandem.lab.names import existing_labs

pytestmark = pytest.mark.lab

SEED = 28
FAULTS = 6


@pytest.mark.timeout(600)
def test_nfs_cell_has_no_violation() -> None:
    links = host_links()
    lines: list[str] = []
    result = run_campaign(Options(faults=0, seed=SEED, sizes=(), qdisk=False,
                                  nfs_faults=FAULTS, say=lines.append))
    failures = result.failures()
    assert failures == [], "\n".join([*failures, *result.anomalies, *lines])
    assert len(result.faults) == FAULTS and all(f.nfs for f in result.faults)
    drawn = {f.kind for f in result.faults}
    assert {"crash", "svc-kill", "relocate"} <= drawn <= {k.name for k in NFS_KINDS}, drawn
    assert all(f.recovery_s is not None and f.pause_s is not None for f in result.faults)
    moved = [f for f in result.faults if f.disrupted]
    assert moved and all(f.owners_after.get("HA_NFS") for f in moved)
    assert result.nfs_acked > 50 and result.nfs_verifications >= 2 * len(moved)
    assert result.acked == 0  # no record service cell was built
    assert len(result.watches) == 2, result.watches
    assert [lab for lab in existing_labs() if lab.startswith(PREFIX)
            and lab.endswith(f"-{os.getpid()}")] == []
    assert host_links() == links
