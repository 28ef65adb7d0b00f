"""`tandem exporter` in a lab node, asking that node's real tandemd: after the node that
ran the service crashes, the metrics show it fenced, the service on the survivor and
one failover in the histogram — and the output passes promtool."""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from enginekit import Cell, dummy_holders, dummy_service, running_cell, started_on
from labkit import node_events, wait_for
from tandem.lab.query import tandem_argv

pytestmark = pytest.mark.lab
LISTEN = "127.0.0.1:9664"
FETCH = ("import urllib.request,sys;"
         f"sys.stdout.write(urllib.request.urlopen('http://{LISTEN}/metrics',timeout=5)"
         ".read().decode())")


def scrape(cell: Cell, node: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The exporter's samples as seen from inside `node`; {} while it does not answer."""
    done = subprocess.run(cell.control.exec_argv(node, [sys.executable, "-c", FETCH]),
                          capture_output=True, text=True, timeout=15, check=False)
    if done.returncode != 0:
        return {}
    if shutil.which("promtool"):
        checked = subprocess.run(["promtool", "check", "metrics"], input=done.stdout,
                                 text=True, capture_output=True, timeout=30)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(done.stdout) for s in f.samples}


def shows(cell: Cell, where: str, name: str, value: float, **labels: str) -> bool:
    return scrape(cell, where).get((name, frozenset(labels.items()))) == value


def test_metrics_show_the_crash_the_fence_and_the_takeover(tmp_path: Path) -> None:
    with running_cell(tmp_path, "promx", dummy_holders("web"), fencing=True,
                      extra=dummy_service()) as cell:
        wait_for(partial(started_on, cell, "node1", "node1"), 20, "web to start on node1")
        exporter = subprocess.Popen(cell.control.exec_argv("node2", tandem_argv(
            "exporter", "--listen", LISTEN, "--timeout", "2")), stderr=subprocess.PIPE)
        try:
            wait_for(partial(shows, cell, "node2", "ha_cluster_tandem_service_owner", 1.0,
                             service="web", node="node1"), 20, "the exporter to answer")
            cell.control.crash("node1")
            wait_for(partial(shows, cell, "node2", "ha_cluster_tandem_service_owner", 1.0,
                             service="web", node="node2"), 40, "web on node2 in metrics")
            found = scrape(cell, "node2")
            assert found[("ha_cluster_tandem_nodes", frozenset(
                {"node": "node1", "node_id": "1", "state": "fenced"}.items()))] == 1
            assert found[("ha_cluster_tandem_fences_total", frozenset(
                {"node": "node1", "result": "ok"}.items()))] == 1
            assert found[("ha_cluster_tandem_failover_duration_seconds_count",
                          frozenset({"service": "web"}.items()))] == 1
            took = found[("ha_cluster_tandem_failover_duration_seconds_sum",
                          frozenset({"service": "web"}.items()))]
            print(f"failover measured by the exporter: {took:.2f} s")
            for e in node_events(cell.control, "node2"):
                if e["kind"] in ("node", "service", "fence_done", "service_started"):
                    print(e["ts_ms"], e["kind"], e.get("node"), e.get("service"),
                          e["detail"])
            assert 0 < took < 40
            assert found[("ha_cluster_tandem_scrape_success", frozenset())] == 1
        finally:
            exporter.terminate()
            exporter.wait(timeout=10)
