"""`lustre_migrate`: the pair status of a Lustre node from what its cell answers (every
status), the request each command makes or its refusal, and the command line over a
site of pretend nodes (fleetkit) whose two lustre cells (io56, io78) have lustre_<node>
services and answer `tandem svc` requests as a cell would."""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Mapping
from pathlib import Path

import pytest
from fleetkit import PretendNode, PretendSite, copy_site, template_status

from tandem.cli import lustre_migrate_cmd
from tandem.common.status import CellStatus
from tandem.config import parse_config
from tandem.fleet.settings import FleetSettings
from tandem.fleet.source import CellTarget, NodeTarget
from tandem.fleet.transport import NodeResult, Transport
from tandem.hpc.lustre.migrate import (
    CRITICAL,
    MIGRATED,
    OK,
    WARNING,
    CellView,
    LustreNode,
    NodeStatus,
    Request,
    node_status,
    pairs,
    plan,
    rounds,
)
from tandem.hpc.lustre.migrate_run import cell_view

IO5 = LustreNode("io5", "io56", "lustre_io5", "io6")
IO6 = LustreNode("io6", "io56", "lustre_io6", "io5")


def cell_status(services: Mapping[str, tuple[str, str | None]], *, offline: tuple[str, ...] = (),
                quorate: bool = True, local: str = "io6") -> CellStatus:
    """io56 as `local` sees it: these services (state, owner), these nodes offline."""
    template = template_status()
    nodes = tuple(dataclasses.replace(template.nodes[0], name=n, id=i, local=n == local,
                                      state="offline" if n in offline else "online")
                  for i, n in enumerate(("io5", "io6"), 1))
    rows = tuple(dataclasses.replace(template.services[0], name=name, state=state,
                                     owner=owner, note="")
                 for name, (state, owner) in services.items())
    return dataclasses.replace(template, cluster="io56", local=local, quorate=quorate,
                               coordinator=local if quorate else None, nodes=nodes,
                               services=rows)


def view(state: str, owner: str | None, *, offline: tuple[str, ...] = (),
         io6: tuple[str, str | None] = ("started", "io6")) -> CellView:
    """io56 with lustre_io5 in `state` on `owner`; the unreachable nodes are offline."""
    status = cell_status({"lustre_io5": (state, owner), "lustre_io6": io6}, offline=offline)
    return CellView("io56", status, tuple(n for n in ("io5", "io6") if n not in offline))


# -- the pair status ------------------------------------------------------------------------
@pytest.mark.parametrize(("state", "owner", "offline", "expected", "said"), [
    ("started", "io5", (), OK, "started on io5"),
    ("started", "io6", ("io5",), MIGRATED, "started on io6; io5 is offline, unreachable"),
    ("started", "io6", (), MIGRATED, "started on io6"),
    ("recovering", "io5", ("io5",), WARNING, "recovering on io5 (a migration may be under"),
    ("starting", "io6", (), WARNING, "starting on io6"),
    ("stopping", "io5", (), WARNING, "stopping on io5"),
    ("frozen", "io5", (), WARNING, "frozen on io5: runs unmonitored"),
    ("disabled", None, (), WARNING, "disabled: stopped by an operator (hastop) or not"),
    ("failed", None, (), CRITICAL, "failed"),
    ("failed", "io5", (), CRITICAL, "failed on io5"),
    ("stopped", None, ("io5",), CRITICAL, "stopped: enabled but runs nowhere; io5 is off"),
])
def test_each_service_state_gives_its_pair_status(state: str, owner: str | None,
                                                  offline: tuple[str, ...], expected: str,
                                                  said: str) -> None:
    found = node_status(IO5, view(state, owner, offline=offline))
    assert (found.status, found.state, found.owner) == (expected, state, owner)
    assert found.detail.startswith(said), found.detail


def test_a_cell_that_cannot_tell_is_critical() -> None:
    silent = CellView("io56", None, (), "no member gave its status: io5 unreachable")
    assert node_status(IO5, silent).status == CRITICAL
    assert node_status(IO5, silent).detail == "no member gave its status: io5 unreachable"
    missing = CellView("io56", cell_status({"lustre_io6": ("started", "io6")}), ("io6",))
    found = node_status(IO5, missing)
    assert (found.status, found.state) == (CRITICAL, "unknown")
    assert found.detail == "cell io56 runs no lustre_io5 (configuration version 1)"


def answer(status: CellStatus) -> str:
    return "0" * 64 + "  -\n" + json.dumps(status.to_json())


def test_the_view_is_a_quorate_members_and_without_one_the_cell_says_why() -> None:
    site = PretendLustreSite.target_of("io56")
    services = {"lustre_io5": ("started", "io5"), "lustre_io6": ("started", "io6")}
    lonely = cell_status(services, offline=("io6",), quorate=False, local="io5")
    results = {"io5": NodeResult("io5", 0, answer(lonely)),
               "io6": NodeResult("io6", 255, "", "ssh: connect to host io6: No route")}
    seen = cell_view(site, results)
    assert seen.status is None and seen.reached == ("io5",)
    assert seen.problem.startswith("not quorate: io5: quorate in two-node mode")
    assert node_status(IO5, seen).status == CRITICAL
    results["io6"] = NodeResult("io6", 0, answer(cell_status(services, local="io6")))
    seen = cell_view(site, results)
    assert seen.status is not None and seen.status.local == "io6"
    results = {n: NodeResult(n, 255, "", "ssh: No route to host") for n in ("io5", "io6")}
    seen = cell_view(site, results)
    assert seen.problem == ("no member gave its status: io5 unreachable (ssh: No route to "
                            "host); io6 unreachable (ssh: No route to host)")


def status_of(node: str, status: str, peer: str | None) -> NodeStatus:
    return NodeStatus(node, "c", f"lustre_{node}", peer, status, "started", node, "")


def test_pairs_show_each_pair_once_with_the_peer_even_unselected() -> None:
    a, b = status_of("io5", OK, "io6"), status_of("io6", MIGRATED, "io5")
    lone = status_of("io9", OK, "io10")
    assert pairs([a, b, lone]) == [(a, b), (lone, None)]
    assert pairs([a], [b]) == [(a, b)]
    assert pairs([b], [a]) == [(b, a)]


# -- what each command asks -----------------------------------------------------------------
# command, --force, lustre_io5's state and owner, nodes down, the request (action,
# target, member sent to) or None, refused, what the step says
ASKS: list[tuple[str, bool, str, str | None, tuple[str, ...],
                 tuple[str, str | None, str] | None, bool, str]] = [
    ("hastart", False, "disabled", None, (), ("enable", "io5", "io5"), False, "start on io5"),
    ("hastart", False, "failed", None, (), ("enable", "io5", "io5"), False, "start on io5"),
    ("hastart", False, "started", "io6", (), None, False,
     "already started on io6 (relocate -n io5 brings it home)"),
    ("hastart", False, "started", "io5", (), None, False, "already started on io5"),
    ("hastart", False, "disabled", None, ("io5",), None, True,
     "io5 is offline, unreachable: hastart --force starts lustre_io5 on io6"),
    ("hastart", True, "disabled", None, ("io5",), ("enable", "io6", "io6"), False,
     "io5 is offline, unreachable: start on its peer io6"),
    ("hastart", True, "disabled", None, ("io5", "io6"), None, True,
     "cell io56: no status"),
    ("hastart", False, "recovering", "io5", (), None, True,
     "lustre_io5 is recovering on io5: wait, or hastop it first"),
    ("hastop", False, "started", "io6", (), ("disable", None, "io6"), False, "stop on io6"),
    ("hastop", False, "failed", None, (), ("disable", None, "io5"), False, "stop"),
    ("hastop", False, "disabled", None, (), None, False, "already disabled"),
    ("export", False, "started", "io5", (), ("relocate", "io6", "io6"), False,
     "move from io5 to io6"),
    ("export", False, "started", "io6", (), None, False, "already on its peer io6"),
    ("export", False, "disabled", None, (), None, True,
     "lustre_io5 is disabled: nothing to move (hastart -n io5 starts it)"),
    ("relocate", False, "started", "io6", (), ("relocate", "io5", "io5"), False,
     "move from io6 back to io5"),
    ("relocate", False, "started", "io5", (), None, False, "already on io5"),
    ("relocate", False, "started", "io6", ("io5",), None, True, "io5 is offline, unreachable"),
    ("relocate", False, "failed", None, (), None, True,
     "lustre_io5 is failed: nothing to relocate (hastart -n io5 starts it)"),
]


@pytest.mark.parametrize("case", ASKS, ids=[f"{c[0]}-{c[2]}-{i}" for i, c in enumerate(ASKS)])
def test_each_command_asks_or_refuses(case: tuple[str, bool, str, str | None,
                                                  tuple[str, ...],
                                                  tuple[str, str | None, str] | None,
                                                  bool, str]) -> None:
    command, force, state, owner, offline, asked, refused, said = case
    seen = view(state, owner, offline=offline)
    if offline == ("io5", "io6"):
        seen = CellView("io56", None)
    step = plan(command, IO5, seen, force=force)
    assert step.refused == refused
    assert step.detail == said
    if asked is None:
        assert step.request is None
    else:
        assert step.request == Request(asked[0], "lustre_io5", asked[1], asked[2])


def test_export_refuses_a_peer_that_is_down_and_names_what_stays() -> None:
    step = plan("export", IO6, view("started", "io6", offline=("io5",)))
    assert step.refused and step.detail == "its peer io5 is offline, unreachable"
    held = view("started", "io6")  # io6 holds io5's service, and its own
    step = plan("export", IO6, held)
    assert step.request == Request("relocate", "lustre_io6", "io5", "io5")
    assert step.detail == ("move from io6 to io5; io6 still holds lustre_io5 (relocate -n "
                           "io5 sends it home)")


def test_a_node_that_answers_but_is_not_online_in_its_cell_is_not_up() -> None:
    """Reached by the management node is not enough: io5's daemon answers, but the
    cell (as io6 sees it) has it fenced; nothing is started or relocated there."""
    status = cell_status({"lustre_io5": ("started", "io6"), "lustre_io6": ("started", "io6")},
                         offline=("io5",))
    seen = CellView("io56", status, ("io5", "io6"))
    assert not seen.up("io5") and seen.up("io6")
    assert seen.node_state("io5") == "offline"
    step = plan("relocate", IO5, seen)
    assert step.refused and step.detail == "io5 is offline"
    assert plan("hastart", IO6, view("disabled", None, io6=("disabled", None)),
                force=False).request == Request("enable", "lustre_io6", "io6", "io6")


def test_no_member_gets_two_requests_in_one_round() -> None:
    one, two = Request("enable", "lustre_io5", "io6", "io6"), \
        Request("enable", "lustre_io6", "io6", "io6")
    three = Request("enable", "lustre_io7", "io7", "io7")
    assert rounds([one, two, three]) == [[one, three], [two]]


# -- the command line on pretend nodes ------------------------------------------------------
class PretendLustreSite(PretendSite):
    """The example site with io56 and io78 made Lustre cells (lustre_ioN services,
    not started); every node runs its daemon; `tandem svc` requests change the
    services as the cell would."""

    LUSTRE = ("io56", "io78")

    def __init__(self, site: Path, tmp: Path) -> None:
        super().__init__(site, tmp)
        self.states: dict[str, tuple[str, str | None]] = {}
        for cell in self.LUSTRE:
            for service in self.owners[cell]:
                self.states[service] = ("disabled", None)
        for name, node in self.nodes.items():
            node.loaded = parse_config(
                (site / f"{self.cell_of[name]}.toml").read_text(), name)
        self.requests: list[tuple[str, list[str]]] = []  # (member, words)
        self.failing: set[tuple[str, str | None]] = set()  # (service, node) that fail

    @staticmethod
    def target_of(cell: str) -> CellTarget:
        a, b = f"io{cell[2]}", f"io{cell[3]}"
        return CellTarget(cell, "lustre", (NodeTarget(a, a), NodeTarget(b, b)),
                          config_version=1)

    def answer(self, node: PretendNode, command: str, stdin: bytes) -> NodeResult:
        if not command.startswith("tandem svc") or not node.reachable:
            return super().answer(node, command, stdin)
        words = shlex.split(command)
        self.requests.append((node.name, words))
        node.commands.append(command)
        action, service = words[2], words[3]
        target = words[words.index("--node") + 1] if "--node" in words else None
        if (service, target) in self.failing:
            self.states[service] = ("failed", None)
            return NodeResult(node.name, 1, "", f"tandem: {action} of {service} failed: "
                                                f"{service}: failed")
        self.states[service] = ("disabled", None) if action == "disable" else \
            ("started", target)
        state, owner = self.states[service]
        return NodeResult(node.name, 0, f"request recorded\n{service}: {state}"
                                        + (f" on {owner}" if owner else ""))

    def status_of(self, node: PretendNode) -> CellStatus:
        status = super().status_of(node)
        rows = tuple(dataclasses.replace(s, state=self.states[s.name][0],
                                         owner=self.states[s.name][1])
                     if s.name in self.states else s for s in status.services)
        return dataclasses.replace(status, services=rows)

    def crash(self, name: str) -> None:
        """Power loss: the peer takes the node's lustre service."""
        node = self.nodes[name]
        node.loaded, node.reachable = None, False
        for service, (state, owner) in self.states.items():
            if owner == name:
                peer = next(n for n in self.nodes
                            if self.cell_of[n] == self.cell_of[name] and n != name)
                self.states[service] = (state, peer)

    def boot(self, name: str) -> None:
        node = self.nodes[name]
        node.reachable = True
        node.loaded = parse_config((self.site / f"{self.cell_of[name]}.toml").read_text(),
                                   name)


def lustre_site(tmp: Path) -> Path:
    site = copy_site(tmp)
    for cell in PretendLustreSite.LUSTRE:
        path = site / f"{cell}.toml"
        path.write_text(path.read_text().replace('"svc-io', '"lustre_io'))
    return site


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    return lustre_site(tmp_path)


@pytest.fixture()
def nodes(site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PretendLustreSite:
    pretend = PretendLustreSite(site, tmp_path)

    def transport(settings: FleetSettings) -> Transport:
        return pretend

    monkeypatch.setattr(lustre_migrate_cmd, "make_transport", transport)
    (tmp_path / "fleet.toml").write_text("")
    return pretend


def migrate(site: Path, *args: str) -> int:
    return lustre_migrate_cmd.main([*args, "--from-dir", str(site), "--fleet-config",
                                    str(site.parent / "fleet.toml")])


def sent(nodes: PretendLustreSite) -> list[str]:
    """The requests sent so far: 'member: action service [node]'."""
    return [f"{member}: {' '.join(w[2:4])}"
            + (f" {w[w.index('--node') + 1]}" if "--node" in w else "")
            for member, w in nodes.requests]


def nodestat(site: Path, capsys: pytest.CaptureFixture[str],
             nodeset: str = "all") -> dict[str, str]:
    assert migrate(site, "nodestat", "-n", nodeset, "--json") in (0, 1)
    out = json.loads(capsys.readouterr().out)
    return {s["node"]: s["status"] for p in out["pairs"] for s in (p["node"], p["peer"]) if s}


def test_nodestat_in_the_manuals_layout_before_and_after_hastart(
        site: Path, nodes: PretendLustreSite, capsys: pytest.CaptureFixture[str]) -> None:
    assert migrate(site, "nodestat", "-n", "all") == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == ["HA paired nodes status", "----------------------",
                       "node name   node status   HA node name   HA node status"]
    assert out[3].split() == ["io5", "WARNING", "io6", "WARNING"]
    assert out[4].split() == ["io7", "WARNING", "io8", "WARNING"]
    assert "io5: WARNING: lustre_io5 disabled: stopped by an operator" in out[6]

    assert migrate(site, "hastart", "-n", "all") == 0
    assert sorted(sent(nodes)) == ["io5: enable lustre_io5 io5", "io6: enable lustre_io6 io6",
                                   "io7: enable lustre_io7 io7", "io8: enable lustre_io8 io8"]
    shown = capsys.readouterr().out
    assert "io5    lustre_io5   done     lustre_io5: started on io5   OK (started on io5)" \
        in shown
    assert migrate(site, "nodestat", "-n", "all") == 0
    assert capsys.readouterr().out.splitlines()[3:] == [
        "io5         OK            io6            OK", "io7         OK            io8"
                                                        "            OK"]
    kept = json.loads((site / "locations" / "io56.json").read_text())
    assert {s["service"]: s["node"] for s in kept["services"]} == {
        "lustre_io5": "io5", "lustre_io6": "io6"}


def test_a_crash_migrates_relocate_brings_it_home(
        site: Path, nodes: PretendLustreSite, capsys: pytest.CaptureFixture[str]) -> None:
    assert migrate(site, "hastart", "-n", "io[5-8]") == 0
    nodes.crash("io5")
    capsys.readouterr()
    assert nodestat(site, capsys, "io5") == {"io5": MIGRATED, "io6": OK}
    before = len(nodes.requests)
    assert migrate(site, "relocate", "-n", "io5") == 1
    captured = capsys.readouterr()
    assert "refused" in captured.out and "io5 is offline, unreachable" in captured.out
    assert captured.err == "lustre_migrate: relocate: 1 of 1 nodes not done: io5 refused\n"
    assert len(nodes.requests) == before
    nodes.boot("io5")
    assert migrate(site, "relocate", "-n", "io5", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["nodes"][0]["result"] == "done"
    assert out["nodes"][0]["now"]["status"] == OK
    assert sent(nodes)[-1] == "io5: relocate lustre_io5 io5"
    assert migrate(site, "relocate", "-n", "io5") == 0
    assert "nothing to do   already on io5" in capsys.readouterr().out


def test_export_moves_a_node_to_its_peer_once(
        site: Path, nodes: PretendLustreSite, capsys: pytest.CaptureFixture[str]) -> None:
    assert migrate(site, "hastart", "-n", "io[5-6]") == 0
    assert migrate(site, "export", "-n", "io5") == 0
    assert sent(nodes)[-1] == "io6: relocate lustre_io5 io6"
    capsys.readouterr()
    assert nodestat(site, capsys, "io[5-6]") == {"io5": MIGRATED, "io6": OK}
    count = len(nodes.requests)
    assert migrate(site, "export", "-n", "io5") == 0
    assert "already on its peer io6" in capsys.readouterr().out
    assert len(nodes.requests) == count
    assert migrate(site, "hastat", "-n", "io[5-6]") == 1
    rows = capsys.readouterr().out.splitlines()
    assert rows[2].split() == ["node", "node", "state", "service", "state", "runs", "on",
                               "peer", "holds", "status"]
    assert rows[3].split() == ["io5", "online", "lustre_io5", "started", "io6", "io6", "-",
                               "MIGRATED"]
    assert rows[4].split() == ["io6", "online", "lustre_io6", "started", "io6", "io5",
                               "lustre_io5,lustre_io6", "OK"]


def test_hastart_without_force_sends_nothing_when_a_node_is_down(
        site: Path, nodes: PretendLustreSite, capsys: pytest.CaptureFixture[str]) -> None:
    nodes.crash("io7")
    assert migrate(site, "hastart", "-n", "all") == 1
    captured = capsys.readouterr()
    assert nodes.requests == []
    assert captured.err.splitlines()[-1] == (
        "lustre_migrate: hastart: 4 of 4 nodes not done: io[5-6,8] not sent; io7 refused")
    assert "io7 is offline, unreachable: hastart --force starts lustre_io7 on io8" \
        in captured.out
    assert migrate(site, "hastart", "--force", "-n", "all") == 0
    assert sorted(sent(nodes)) == ["io5: enable lustre_io5 io5", "io6: enable lustre_io6 io6",
                                   "io8: enable lustre_io7 io8", "io8: enable lustre_io8 io8"]
    capsys.readouterr()
    assert nodestat(site, capsys) == {"io5": OK, "io6": OK, "io7": MIGRATED, "io8": OK}


def test_hastart_force_falls_back_to_the_peer_after_a_failed_start(
        site: Path, nodes: PretendLustreSite, capsys: pytest.CaptureFixture[str]) -> None:
    nodes.failing.add(("lustre_io5", "io5"))
    assert migrate(site, "hastart", "-n", "io5") == 1
    assert "failed   tandem: enable of lustre_io5 failed" in capsys.readouterr().out
    assert migrate(site, "hastart", "--force", "-n", "io5") == 0
    assert sent(nodes)[-2:] == ["io5: enable lustre_io5 io5", "io6: enable lustre_io5 io6"]
    assert "MIGRATED (started on io6)" in capsys.readouterr().out


def test_hastop_disables_wherever_the_service_runs(
        site: Path, nodes: PretendLustreSite, capsys: pytest.CaptureFixture[str]) -> None:
    assert migrate(site, "hastart", "-n", "io[5-6]") == 0
    assert migrate(site, "export", "-n", "io6") == 0
    assert migrate(site, "hastop", "-n", "io[5-6]", "--json") == 0
    assert sent(nodes)[-2:] == ["io5: disable lustre_io5", "io5: disable lustre_io6"]
    capsys.readouterr()
    assert nodestat(site, capsys, "io5") == {"io5": WARNING, "io6": WARNING}


def test_an_unreachable_cell_is_critical_and_the_others_report(
        site: Path, nodes: PretendLustreSite, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("io7", "io8"):
        nodes.nodes[name].reachable = False
    assert migrate(site, "nodestat", "-n", "all", "--json") == 1
    out = json.loads(capsys.readouterr().out)
    io7 = out["pairs"][1]["node"]
    assert (io7["node"], io7["status"], io7["state"]) == ("io7", CRITICAL, "unknown")
    assert io7["detail"].startswith("no member gave its status: io7 unreachable (ssh: ")
    assert out["pairs"][0]["node"]["status"] == WARNING


@pytest.mark.parametrize(("args", "problem"), [
    (["nodestat", "-n", "io1"], "lustre_migrate: error: -n: io1 of cell io12: no lustre_io1 "
                                "service (a node has one when it is the primary of a "
                                "Lustre target)"),
    (["hastart", "-n", "io99"], "lustre_migrate: error: -i: unknown node io99 (in no cell)"),
    (["hastat", "-n", "io[5-"], "lustre_migrate: error: -i 'io[5-' is not a node set"),
    (["hastop", "-n", "io5", "--wait", "0"], "lustre_migrate: error: --wait must be more "
                                             "than 0, got 0"),
    (["export", "-n", "all"], "lustre_migrate: error: export -n all would swap every pair"),
    (["export", "-n", "io[5-6]"], "lustre_migrate: error: export -n: io[5-6] are each "
                                  "other's peers: exporting both would swap them"),
    (["relocate", "-n", " "], "lustre_migrate: error: -n: give a node set (io[1-4]) or all"),
])
def test_bad_input_is_one_line_exit_two_and_nothing_sent(
        site: Path, nodes: PretendLustreSite, capsys: pytest.CaptureFixture[str],
        args: list[str], problem: str) -> None:
    assert migrate(site, *args) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(problem), captured.err
    assert captured.err.count("\n") == 1 and captured.out == ""
    assert all(not n.commands for n in nodes.nodes.values())
    assert not (site / "locations").exists()
