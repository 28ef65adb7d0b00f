"""The generated ganesha.conf: fixed ports, NFSv3 and v4, recovery on the failover disk,
a short grace, one EXPORT per export with ids derived from the configured id (the same
text on both nodes, so handles survive a move), NLM off; and the exports' checks."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tandem.hpc.nfs.ganesha import (
    MNT_PORT,
    NFS_PORT,
    NLM_PORT,
    RQUOTA_PORT,
    Export,
    ganesha_conf,
    parse_exports,
)
from tandem.resources.base import ParamError

HOME = {"path": "/srv/home", "id": 1}
SCRATCH = {"path": "/srv/scratch", "id": 42, "clients": "10.1.0.0/16, login1",
           "access": "RO", "squash": "root_squash"}


def conf(*entries: dict[str, Any], grace_s: int = 10) -> str:
    return ganesha_conf(parse_exports("nfs", list(entries)), "/srv/.nfs-recovery", grace_s)


def block(text: str, header: str, index: int = 0) -> str:
    """The body of the `index`-th top-level block called `header`."""
    found: list[str] = re.findall(rf"^{header} \{{\n(.*?)^\}}", text, re.M | re.S)
    return found[index]


def test_defaults_of_an_export() -> None:
    assert parse_exports("nfs", [HOME]) == (Export("/srv/home", 1, "*", "RW", "no_root_squash"),)


def test_core_parameters_fix_every_port_and_switch_nlm_off() -> None:
    core = block(conf(HOME), "NFS_CORE_PARAM")
    assert "Protocols = 3, 4;" in core
    for line in (f"NFS_Port = {NFS_PORT};", f"MNT_Port = {MNT_PORT};",
                 f"NLM_Port = {NLM_PORT};", f"Rquota_Port = {RQUOTA_PORT};",
                 "Enable_NLM = false;"):
        assert line in core
    assert (NFS_PORT, MNT_PORT, NLM_PORT, RQUOTA_PORT) == (2049, 20048, 32803, 875)


def test_recovery_on_the_failover_disk_and_a_short_grace() -> None:
    v4 = block(conf(HOME, grace_s=7), "NFSv4")
    assert "RecoveryBackend = fs;" in v4
    assert 'RecoveryRoot = "/srv/.nfs-recovery";' in v4
    assert "Grace_Period = 7;" in v4 and "Lease_Lifetime = 7;" in v4


def test_one_export_block_per_export_with_ids_from_the_configured_id() -> None:
    text = conf(HOME, SCRATCH)
    home, scratch = block(text, "EXPORT", 0), block(text, "EXPORT", 1)
    assert "Export_Id = 1;" in home and "Filesystem_id = 1.1;" in home
    assert "Export_Id = 42;" in scratch and "Filesystem_id = 42.42;" in scratch
    assert 'Path = "/srv/scratch";' in scratch and 'Pseudo = "/srv/scratch";' in scratch
    for body in (home, scratch):
        for line in ("Protocols = 3, 4;", "Transports = TCP, UDP;", "FSAL { Name = VFS; }",
                     "Access_Type = NONE;"):  # nobody but the listed clients
            assert line in body
    assert "Squash = no_root_squash;" in home
    assert "CLIENT { Clients = *; Access_Type = RW; }" in home
    assert "Squash = root_squash;" in scratch
    assert "CLIENT { Clients = 10.1.0.0/16, login1; Access_Type = RO; }" in scratch


def test_same_exports_same_text_in_any_order_of_keys() -> None:
    """Both nodes generate the same configuration from the same parameters."""
    reordered = dict(reversed(list(SCRATCH.items())))
    assert conf(HOME, SCRATCH) == conf(HOME, reordered)


BAD = [
    ([], "exports: at least one export is required"),
    (["/srv/home"], r"exports\[0\]: expected a table"),
    ([{"id": 1}], r"exports\[0\].path: is required"),
    ([{"path": "/srv/home"}], r"exports\[0\].id: is required"),
    ([{**HOME, "colour": "red"}], r"exports\[0\].colour: unknown key"),
    ([{**HOME, "path": "srv/home"}], r"exports\[0\].path: expected an absolute path"),
    ([{**HOME, "path": '/srv/a"; }'}], r"exports\[0\].path: expected an absolute path"),
    ([{**HOME, "path": "/srv/../etc"}], r"exports\[0\].path: expected an absolute path"),
    ([{**HOME, "id": 0}], r"exports\[0\].id: expected an integer 1..65535"),
    ([{**HOME, "id": 65536}], r"exports\[0\].id: expected an integer 1..65535"),
    ([{**HOME, "id": True}], r"exports\[0\].id: expected an integer"),
    ([{**HOME, "id": "1"}], r"exports\[0\].id: expected an integer"),
    ([{**HOME, "clients": "a; } EXPORT {"}], r"exports\[0\].clients: expected"),
    ([{**HOME, "clients": ""}], r"exports\[0\].clients: expected"),
    ([{**HOME, "access": "rw"}], r"exports\[0\].access: expected one of RW, RO"),
    ([{**HOME, "squash": "yes"}], r"exports\[0\].squash: expected one of no_root_squash"),
    ([HOME, {**SCRATCH, "id": 1}], r"exports\[1\].id: 1 appears twice"),
    ([HOME, {**SCRATCH, "path": "/srv/home"}], r"exports\[1\].path: '/srv/home' appears twice"),
]


@pytest.mark.parametrize(("raw", "message"), BAD)
def test_bad_exports_are_refused_naming_the_entry(raw: list[Any], message: str) -> None:
    with pytest.raises(ParamError, match=message) as caught:
        parse_exports("nfs", raw)
    assert str(caught.value).startswith("resource nfs: ")
