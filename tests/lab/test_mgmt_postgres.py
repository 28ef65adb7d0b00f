"""The HA_NSM service in lab cells: the `haservices` agent's contract, then a real
management pair made the manual's way — `tandem ha config-admin` writes the cell
configuration from /etc/HA and an inventory, the primary is prepared (hamount, initdb,
halinks), HA_NSM is started by hand, the secondary gets its files through hasynchro —
running PostgreSQL 15 on the shared disks behind the virtual address.

A client commits rows through the virtual address; the active node loses power, is
fenced, HA_NSM comes up on the peer and every committed row is read back; then a planned
relocation back, and the same check. The split-brain watch runs the whole time.

Lab paths: the toolkit works in a system tree of each node's own, /srv/mgmt (its
sysroot, given to HA_NSM through the agent's environment), so that /etc/HA, /etc/cron.d,
the mount points /etcha and /varha and the links /var/lib/postgresql ->
/varha/lib/postgresql and /etc/postgresql -> /etcha/postgresql are all under
/srv/mgmt in each node and nothing changes on the host. /run/postgresql is private too.
PostgreSQL's data and configuration are reached through the links.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentkit import (
    ERR_GENERIC,
    NOT_RUNNING,
    SUCCESS,
    agent,
    contract,
)
from enginekit import Cell, cell_of, fence_starts
from labkit import (
    node_events,
    node_lab,
    running_lab,
    sh,
    unique_lab_name,
    wait_for,
)
from mgmtkit import write
from tandem.lab.failover import breakdown
from tandem.lab.names import LabNames
from tandem.lab.query import service_owner

pytestmark = pytest.mark.lab

PG_BIN = "/usr/lib/postgresql/15/bin"
VIP = "198.51.100.60"
SERVICE = "HA_NSM"
ROWS = 300
MORE_ROWS = 50
BIN = Path(sys.executable).parent  # where the toolkit's entry points are installed
TREE = "/srv/mgmt"  # the toolkit's sysroot in each node
HA_ROOT = f"{TREE}/etc/HA"
TOOLKIT_ENV = (f"export TANDEM_HA_SYSROOT={TREE} TANDEM_HA_ROOT={HA_ROOT} "
               f"TANDEM_HA_PEER_SYSROOT={TREE}; ")
TOOLS = ("hamount", "halinks", "hapidcleaner", "haip", "hacron", "hasynchro", "hafake",
         "hadown")

# The example management pair: its /etc/HA files and inventory are what runs here.
EXAMPLE = Path(__file__).parents[2] / "examples" / "mgmt-ha"
HA_FILES = sorted(p.relative_to(EXAMPLE / "HA") for p in (EXAMPLE / "HA").rglob("*")
                  if p.is_file())
SYNCHRO = [line for line in (EXAMPLE / "HA/synchro").read_text().splitlines()
           if line.strip() and not line.startswith("#")]

LAB_SECTION = """
[lab]
private_dirs = ["/srv", "/run/postgresql"]
client = { network = "admin", address = "198.51.100.250/24" }
disks = [ { name = "etcha", size = "32M", format = "ext4" },
          { name = "varha", size = "256M", format = "ext4" } ]
"""

PG_CONF = f"""data_directory = '{TREE}/var/lib/postgresql/15/main'
hba_file = '{TREE}/etc/postgresql/15/main/pg_hba.conf'
ident_file = '{TREE}/etc/postgresql/15/main/pg_ident.conf'
listen_addresses = '{VIP}'
port = 5432
unix_socket_directories = '/run/postgresql'
max_connections = 20
shared_buffers = 16MB
fsync = on
synchronous_commit = on
"""

PG_HBA = "local all all trust\nhost all all 198.51.100.250/32 trust\n"


@pytest.fixture(scope="module")
def postgresql() -> None:
    """PostgreSQL 15 and its client on the machine (installed here if missing, as
    `./dev` does: nothing may start at install time)."""
    if all(Path(PG_BIN, p).exists() for p in ("postgres", "initdb", "pg_ctl", "psql")):
        return
    policy = Path("/usr/sbin/policy-rc.d")
    made = not policy.exists()
    if made:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "postgresql", "postgresql-client"]
    try:
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True,
                           timeout=600)
            done = subprocess.run(install, env=env, capture_output=True, text=True,
                                  timeout=900)
        assert done.returncode == 0, f"installing postgresql failed: {done.stderr[-500:]}"
    finally:
        if made:
            policy.unlink()


def install_tools(root: Path) -> None:
    """The toolkit in ROOT/etc/HA/bin, as the HA package lays it out (links to the
    installed entry points)."""
    bin_dir = root / "etc/HA/bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in TOOLS:
        link = bin_dir / tool
        if not link.is_symlink():
            link.symlink_to(BIN / tool)


# -- the agent's contract ----------------------------------------------------------------------
def test_haservices_agent_contract(tmp_path: Path) -> None:
    """Through `tandem agent run` in a node: the contract with a status list that checks
    the (fake) service; a service that dies behind the engine's back; an empty status
    list; a start that fails half-way and needs a stop."""
    with node_lab(tmp_path, "hasag", bmc=False) as control:
        root = LabNames(control.record.name).node_root("node1")
        install_tools(root)
        lists = root / "etc/HA/contract"
        for action in ("start", "stop", "status"):
            write(lists / action, "/etc/HA/bin/hafake\n")
        params = ("root=/etc/HA/contract", "env.TANDEM_HA_RUN_DIR=/run/tandem/contract")
        witness = "test -e /run/tandem/contract/hafake.running"
        contract(control, "node1", "haservices", *params, resource="nsm", witness=witness)

        def run(action: str) -> tuple[int, str]:
            outcome = agent(control, "node1", "haservices", action, *params, resource="nsm")
            return outcome.code, outcome.message

        assert run("start")[0] == SUCCESS
        sh(control, "node1", "rm /run/tandem/contract/hafake.running")
        code, message = run("monitor")
        assert code == ERR_GENERIC and "the fake service is not running" in message
        assert run("stop")[0] == SUCCESS

        write(lists / "status", "# nothing is monitored\n")
        assert run("status")[0] == NOT_RUNNING  # an empty list does not mean "here"
        assert run("start")[0] == SUCCESS
        assert run("status")[0] == SUCCESS
        assert run("stop")[0] == SUCCESS
        assert run("status")[0] == NOT_RUNNING

        write(lists / "start", "/etc/HA/bin/hafake\n/etc/HA/bin/hadown\n")
        code, message = run("start")
        assert code == ERR_GENERIC and "hadown start` failed" in message
        assert sh(control, "node1", f"{witness} && echo up") == "up\n"  # half started
        code, message = run("status")
        assert code == ERR_GENERIC and "needs a stop" in message
        assert run("stop")[0] == SUCCESS
        assert sh(control, "node1", f"{witness} || echo down") == "down\n"
        assert run("status")[0] == NOT_RUNNING


# -- the management pair ---------------------------------------------------------------------
def generate_config(tmp_path: Path) -> str:
    """`tandem ha config-admin` on the HA files and inventory, as an operator runs it."""
    output = tmp_path / "cluster.toml"
    done = subprocess.run(
        [str(BIN / "tandem"), "ha", "config-admin", "node2", "node1", "--root",
         str(EXAMPLE / "HA"), "--inventory", str(EXAMPLE / "inventory.toml"),
         "--node-root", HA_ROOT, "--env", f"TANDEM_HA_SYSROOT={TREE}", "--output",
         str(output)],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no warning about these files
    assert "manual start" in done.stdout and f"{VIP}/24 on eth0" in done.stdout
    check = subprocess.run([str(BIN / "tandem"), "config", "check", str(output)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    return output.read_text() + LAB_SECTION


@contextlib.contextmanager
def mgmt_cell(tmp_path: Path) -> Iterator[Cell]:
    """The generated cell, daemons running, both nodes online, the watches on."""
    name = unique_lab_name("pg")
    with running_lab(tmp_path, generate_config(tmp_path), name, start=True) as record, \
            cell_of(record, online_timeout=60) as cell:
        yield cell


def in_node(cell: Cell, node: str, script: str) -> str:
    """A shell script in a node, with the toolkit's settings (its sysroot) exported."""
    return sh(cell.control, node, "set -e; cd /; " + TOOLKIT_ENV + script)


def node_tree(cell: Cell, node: str) -> Path:
    """The node's /srv/mgmt, seen from the host (before any link is made in it)."""
    return LabNames(cell.record.name).node_root(node) / TREE.lstrip("/")


def install_package(tree: Path) -> None:
    """What installing the packages leaves on each node: the toolkit, the cron job, and
    empty PostgreSQL directories."""
    install_tools(tree)
    write(tree / "etc/cron.d/mgmt-report", "0 * * * * root true\n")
    postgres = pwd.getpwnam("postgres")
    for directory in ("etc/postgresql", "var/lib/postgresql"):
        (tree / directory).mkdir(parents=True, exist_ok=True)
        os.chown(tree / directory, postgres.pw_uid, postgres.pw_gid)


def prepare_primary(cell: Cell) -> None:
    """The manual's primary node: data files, crons put to sleep, shared file systems
    mounted, the database created, its directories moved to the shared disks, unmounted
    again (HA_NSM mounts them)."""
    tree = node_tree(cell, "node1")
    install_package(tree)
    for relative in HA_FILES:
        target = tree / "etc/HA" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(EXAMPLE / "HA" / relative, target)
    conf = tree / "etc/postgresql/15/main"
    for name, text in (("postgresql.conf", PG_CONF), ("pg_hba.conf", PG_HBA),
                       ("pg_ident.conf", "")):
        write(conf / name, text)
    postgres = pwd.getpwnam("postgres")
    for path in (conf, conf.parent, *conf.iterdir()):
        os.chown(path, postgres.pw_uid, postgres.pw_gid)
    in_node(cell, "node1", f"""
        {HA_ROOT}/bin/hacron stop
        {HA_ROOT}/bin/hamount start
        setpriv --reuid=postgres --regid=postgres --init-groups {PG_BIN}/initdb \\
            -D {TREE}/var/lib/postgresql/15/main --auth=trust --username=postgres \\
            --no-locale -E UTF8 >/dev/null
        {HA_ROOT}/bin/halinks repair
        {HA_ROOT}/bin/hamount stop""")
    assert links(cell, "node1") == [f"{TREE}/etcha/postgresql", f"{TREE}/varha/lib/postgresql"]


def links(cell: Cell, node: str) -> list[str]:
    return in_node(cell, node, f"readlink {TREE}/etc/postgresql "
                               f"{TREE}/var/lib/postgresql").split()


def prepare_secondary(cell: Cell) -> None:
    """From the active primary, hasynchro copies the data files (and the PostgreSQL
    script) to the secondary; there the links are made without mounting anything."""
    peer = f"--peer-command={BIN / 'tandem'} lab exec --lab {cell.record.name} {{peer}} --"
    install_package(node_tree(cell, "node2"))
    status = subprocess.run(cell.control.exec_argv("node1", [
        "env", f"TANDEM_HA_SYSROOT={TREE}", f"TANDEM_HA_PEER_SYSROOT={TREE}",
        f"{HA_ROOT}/bin/hasynchro", "status", "--root", HA_ROOT, peer]),
        capture_output=True, text=True, timeout=120)
    assert status.returncode == 1 and "on node2: missing" in status.stderr, status.stderr
    out = in_node(cell, "node1", f"{HA_ROOT}/bin/hasynchro repair '{peer}'")
    assert f"{len(SYNCHRO)} files copied to node2" in out
    assert in_node(cell, "node1", f"{HA_ROOT}/bin/hasynchro status '{peer}'").startswith(
        "hasynchro status: OK")
    out = in_node(cell, "node2", f"{HA_ROOT}/bin/hacron stop; {HA_ROOT}/bin/halinks repair")
    assert "not seeded" in out  # the shared disks stay with the active node
    assert links(cell, "node2") == [f"{TREE}/etcha/postgresql", f"{TREE}/varha/lib/postgresql"]


def sql(cell: Cell, script: str) -> str | None:
    """Run SQL from the client through the virtual address; None if it did not work."""
    argv = cell.control.exec_argv("client", [
        f"{PG_BIN}/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", VIP,
        "-U", "postgres", "-d", "postgres", "-f", "-"])
    try:
        done = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PGCONNECT_TIMEOUT": "3"})
    except subprocess.TimeoutExpired:
        return None
    return done.stdout if done.returncode == 0 else None


def insert_rows(cell: Cell, first: int, count: int) -> None:
    """`count` rows, each INSERT its own committed transaction (psql autocommit)."""
    script = "".join(f"INSERT INTO rows VALUES ({i});\n" for i in range(first, first + count))
    assert sql(cell, script) is not None, "the client could not commit its rows"


def rows_seen(cell: Cell) -> int:
    """The rows the client reads back once the database answers again (bounded wait)."""
    answer = wait_for(lambda: sql(cell, "SELECT count(*) FROM rows;"), 90,
                      "the database to answer through the virtual address")
    return int(answer.strip())


def owner(cell: Cell, observer: str) -> str | None:
    return service_owner(cell.control, observer, SERVICE)


def cron_state(cell: Cell, node: str) -> str:
    cron = f"{TREE}/etc/cron.d"
    return in_node(cell, node, f"if [ -f {cron}/mgmt-report ]; then echo active; "
                               f"elif [ -f {cron}/SLEEP/mgmt-report ]; then echo asleep; "
                               f"else echo missing; fi").strip()


def clusvcadm(cell: Cell, node: str, *args: str) -> float:
    """Run clusvcadm in a node (it waits for the outcome); seconds it took."""
    began = time.monotonic()
    done = subprocess.run(cell.control.exec_argv(node, ["clusvcadm", *args]),
                          capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - began


def crash_active(cell: Cell) -> None:
    """node1 loses power; node2 fences it, then starts HA_NSM: PostgreSQL recovers from
    the crash on the shared disk."""
    fault_at = time.time()
    cell.control.crash("node1")
    wait_for(lambda: owner(cell, "node2") == "node2", 120, "HA_NSM to start on node2")
    assert cell.power("node1") == "off"
    assert rows_seen(cell) == ROWS
    answered_ms = (time.time() - fault_at) * 1000
    events = node_events(cell.control, "node2")
    fenced = next(e["ts_ms"] for e in events if e["kind"] == "fence_done"
                  and e["node"] == "node1")
    started = next(e["ts_ms"] for e in events if e["kind"] == "service_started"
                   and e["node"] == "node2")
    assert started >= fenced
    log = in_node(cell, "node2", f"cat {TREE}/var/lib/postgresql/15/server.log")
    assert "automatic recovery in progress" in log
    steps = breakdown(events, int(fault_at * 1000), "node1")
    print(f"\nHA_NSM failover: {steps}; the client read its rows back "
          f"{answered_ms:.0f} ms after the crash")


def test_postgres_survives_crash_and_relocation(postgresql: None, tmp_path: Path) -> None:
    with mgmt_cell(tmp_path) as cell:
        prepare_primary(cell)
        assert owner(cell, "node1") is None  # manual start: nothing runs yet
        clusvcadm(cell, "node1", "-e", SERVICE, "-m", "node1")
        assert wait_for(lambda: owner(cell, "node2") == "node1", 60, "HA_NSM on node1")
        prepare_secondary(cell)
        assert sql(cell, "CREATE TABLE rows (n integer PRIMARY KEY);") is not None
        insert_rows(cell, 0, ROWS)
        assert (cron_state(cell, "node1"), cron_state(cell, "node2")) == ("active", "asleep")

        crash_active(cell)
        assert cron_state(cell, "node2") == "active"

        insert_rows(cell, ROWS, MORE_ROWS)
        cell.control.power_on("node1")
        cell.wait_state("node2", "node1", {"online"}, timeout=60)
        cell.wait_state("node1", "node2", {"online"}, timeout=60)
        # It crashed with its crons active: at boot, before HA_NSM may run there again,
        # the probe of the HA_NSM resource put them to sleep (hacron boot).
        wait_for(lambda: cron_state(cell, "node1") == "asleep", 30, "node1's crons asleep")
        # No failback by itself: the rebooted node (the coordinator again, by its lower id)
        # must take over the placement, not replay the old `-m node1`. Watched for 3 s.
        held = []
        for _ in range(15):
            held.append(owner(cell, "node2"))
            time.sleep(0.2)
        assert set(held) == {"node2"}, held
        assert wait_for(lambda: owner(cell, "node1") == "node2", 10, "node1 to see HA_NSM")
        took = clusvcadm(cell, "node2", "-r", SERVICE, "-m", "node1")
        print(f"HA_NSM relocation back to node1: {took:.1f} s")
        assert owner(cell, "node2") == "node1"
        assert rows_seen(cell) == ROWS + MORE_ROWS
        assert (cron_state(cell, "node1"), cron_state(cell, "node2")) == ("active", "asleep")
        assert fence_starts(node_events(cell.control, "node1")) == []

        clusvcadm(cell, "node1", "-d", SERVICE)
        assert sql(cell, "SELECT 1;") is None
        assert in_node(cell, "node1", f"{PG_BIN}/pg_isready -h /run/postgresql || true"
                       ).strip().endswith("no response")
