"""Ganesha's fixed ports on a node that just served them: a connection in TIME_WAIT on
one of them keeps Ganesha from binding it, so the start says so at once (instead of
Ganesha's "Error binding to V6 interface"); and the agent's own RPC checks never take a
privileged port (as root, rpcinfo binds one, and rquota's 875 is among them)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tandem.hpc.nfs.agent import UNPRIVILEGED, ports_in_use


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_port_in_time_wait_is_in_use_and_a_free_one_is_not() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    local = free_port()
    client = socket.socket()  # no SO_REUSEADDR, as rpcinfo's socket
    client.bind(("127.0.0.1", local))
    client.connect(listener.getsockname())
    accepted, _ = listener.accept()
    client.close()  # the side that closes first keeps TIME_WAIT on `local`
    accepted.close()
    listener.close()
    assert ports_in_use((local,)) == [f"{local}/tcp"]
    other = free_port()
    assert ports_in_use((other,)) == []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("0.0.0.0", other))
        assert ports_in_use((other,)) == [f"{other}/udp"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may bind privileged ports at all")
def test_the_rpc_checks_run_without_the_right_to_bind_privileged_ports() -> None:
    bind = ("import socket; s = socket.socket(); "
            "s.bind(('127.0.0.1', 875)); print('bound')")
    plain = subprocess.run([sys.executable, "-c", bind], capture_output=True, text=True)
    dropped = subprocess.run([*UNPRIVILEGED, sys.executable, "-c", bind],
                             capture_output=True, text=True)
    if plain.returncode != 0 and "Address already in use" in plain.stderr:
        pytest.skip("port 875 is taken on this machine")
    assert plain.returncode == 0 and plain.stdout.strip() == "bound"
    assert dropped.returncode != 0 and "Permission denied" in dropped.stderr
