"""`tandem page` over a real two-node cell, opened in Debian's Chromium (headless, driven
by selenium through Debian's chromedriver; nothing is downloaded). The page reads the
cell through the fleet's exec fan-out (each node's command runs in the lab node; a
powered-off node answers as ssh does for a dead host). node1 crashes: within a bounded
wait the page shows node1 lost (fenced) and not answering, and web moved to node2. The
test keeps a screenshot at a phone's width, and copies it to
bench/results/status-page.png."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from enginekit import dummy_service, running_cell, started_on
from labkit import sh, wait_for

pytestmark = pytest.mark.lab

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
RESULT = Path(__file__).resolve().parents[2] / "bench" / "results" / "status-page.png"
NODE = """#!/bin/sh
# $1 node, $2 command: run in the lab node; a powered-off node is unreachable, as by ssh
err=$(mktemp)
{tandem} lab exec --lab {lab} "$1" -- sh -c "$2" 2>"$err"; rc=$?
if grep -q "powered off" "$err"; then
  echo "ssh: connect to host $1 port 22: No route to host" >&2; rc=255
else cat "$err" >&2; fi
rm -f "$err"; exit $rc
"""
ROW = """const r = document.querySelector(arguments[0]);
return r ? Object.assign({}, r.dataset) : null;"""


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Any]:
    """Headless Chromium at a phone's width, started from Debian's own binaries."""
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # selenium manager must never fetch anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}",
                 "--window-size=430,1600"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_page(tmp_path: Path, lab: str, config: str) -> tuple[subprocess.Popen[str], str]:
    """`tandem page` over the cell, on a free port of 127.0.0.1: (process, URL)."""
    cells = tmp_path / "cells"
    cells.mkdir()
    (cells / f"{lab}.toml").write_text(config)
    tandem = str(Path(sys.executable).parent / "tandem")
    script = tmp_path / "node.sh"
    script.write_text(NODE.format(tandem=tandem, lab=lab))
    (tmp_path / "fleet.toml").write_text("")
    page = subprocess.Popen(
        [tandem, "page", "-a", "--from-dir", str(cells), "--fleet-config",
         str(tmp_path / "fleet.toml"), "--exec", f"sh {script} %h %c", "--remote-path",
         str(Path(sys.executable).parent), "--listen", f"127.0.0.1:{free_port()}",
         "--interval", "1",
         "--timeout", "10"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert page.stderr is not None
    line = page.stderr.readline()
    assert line.startswith("tandem page: serving http://127.0.0.1:"), line
    return page, line.split()[3]


def dataset(browser: Any, selector: str) -> dict[str, str] | None:
    """The data-* attributes of the element `selector` finds (read in one script: the
    page swaps its content at every refresh)."""
    found: dict[str, str] | None = browser.execute_script(ROW, selector)
    return found


def assert_phone_layout(browser: Any) -> None:
    assert browser.find_element("css selector", 'meta[name="viewport"]')
    columns = browser.execute_script(
        "return getComputedStyle(document.querySelector('.tiles'))"
        ".gridTemplateColumns.split(' ').length")
    assert columns == 1  # at a phone's width the tiles stack


def test_the_page_shows_a_crash_in_chromium(tmp_path: Path, browser: Any) -> None:
    with running_cell(tmp_path, "npage", fencing=True, extra=dummy_service()) as cell:
        wait_for(lambda: started_on(cell, "node2", "node1"), 30, "web to start on node1")
        lab = cell.record.name
        page, url = start_page(tmp_path, lab, sh(cell.control, "node1",
                                                 "cat /etc/tandem/cluster.toml"))
        try:
            browser.get(url)
            tile = f'section[data-cell="{lab}"]'

            def row(selector: str) -> dict[str, str] | None:
                return dataset(browser, selector)

            wait_for(lambda: (row(f'{tile} tr[data-service="web"]') or {}).get("owner")
                     == "node1", 30, "the page to show web on node1")
            assert (row(tile) or {}).get("state") == "OK"
            assert_phone_layout(browser)

            crashed = time.monotonic()
            cell.control.crash("node1")

            def lost() -> bool:
                node = row(f'{tile} tr[data-node="node1"]') or {}
                return node.get("reach") == "unreachable" and \
                    node.get("state") in ("lost", "fenced")

            wait_for(lost, 30, "the page to show node1 lost")
            shown_lost = time.monotonic() - crashed
            wait_for(lambda: (row(f'{tile} tr[data-service="web"]') or {}).get("owner")
                     == "node2", 60, "the page to show web moved to node2")
            shown_moved, shown_at = time.monotonic() - crashed, time.time()
            moved = next(e["ts_ms"] / 1000 for e in reversed(cell.events_file("node2"))
                         if e.get("service") == "web" and e.get("node") == "node2")
            assert (row(f'{tile} tr[data-service="web"]') or {}).get("migrated") == "true"
            assert (row(tile) or {}).get("state") == "MIGRATED"
            lag = shown_at - moved
            print(f"page: node1 lost after {shown_lost:.1f} s, web on node2 after "
                  f"{shown_moved:.1f} s ({lag:.1f} s after node2's last web event)")
            time.sleep(1.5)  # one more refresh: the events of the move are on the page
            shot = tmp_path / "status-page.png"
            assert browser.save_screenshot(str(shot))
            RESULT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, RESULT)
        finally:
            page.terminate()
            page.wait(timeout=10)
