"""The fan-out with real processes (ClusterShell's task, our workers): each node's
output, errors and exit status, stdin, unreachable and timed-out nodes, the fanout
limit, and the ssh command line (through a stand-in for ssh that prints its
arguments)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tandem.fleet.settings import FleetSettings, SshSettings
from tandem.fleet.transport import ClusterShellTransport, Job, NodeResult, merged

SH = "sh -c %c"


def exec_transport(template: str = SH, fanout: int = 64) -> ClusterShellTransport:
    return ClusterShellTransport(FleetSettings(exec_template=template, fanout=fanout))


def test_each_node_answers_with_its_output_errors_and_status() -> None:
    seen: list[str] = []
    results = exec_transport().run(
        [Job({"a1": "x", "a2": "y"}, "echo out; echo err >&2; exit 3"),
         Job({"b1": "z"}, "printf 'one\\n\\ntwo'; exit 0")],
        lambda result: seen.append(result.node))
    assert sorted(seen) == ["a1", "a2", "b1"]
    assert results["a1"] == NodeResult("a1", 3, "out", "err")
    assert results["b1"] == NodeResult("b1", 0, "one\n\ntwo", "")
    assert results["a2"].reached and results["a2"].reason == "err"


def test_stdin_reaches_each_node_of_its_job_only() -> None:
    results = exec_transport("sh -c %c").run(
        [Job({"a1": "x", "a2": "x"}, "cat", stdin=b"for a\n"),
         Job({"b1": "x"}, "cat", stdin=b"for b\n"),
         Job({"c1": "x"}, "cat")])
    assert [results[n].stdout for n in ("a1", "a2", "b1", "c1")] == \
        ["for a", "for a", "for b", ""]


def test_the_node_name_is_given_to_the_template_and_percent_signs_stay() -> None:
    results = exec_transport("sh -c %c --- %h").run([Job({"io7": "x"}, 'echo "$1 50%"')])
    assert results["io7"].stdout == "io7 50%"


def test_unreachable_and_silent_nodes() -> None:
    results = exec_transport().run([
        Job({"gone": "x"}, "echo 'ssh: connect to host gone port 22: No route' >&2; "
                           "exit 255"),
        Job({"slow": "x"}, "sleep 30", timeout=0.3)])
    gone, slow = results["gone"], results["slow"]
    assert not gone.reached and gone.reason == "ssh: connect to host gone port 22: No route"
    assert not slow.reached and slow.timed_out and slow.rc is None
    assert slow.reason == "no answer in time"


def test_fanout_bounds_how_many_nodes_run_at_once(tmp_path: Path) -> None:
    script = tmp_path / "count.sh"
    script.write_text(f"""#!/bin/sh
touch {tmp_path}/running.$1
ls {tmp_path} | grep -c '^running' >> {tmp_path}/seen
sleep 0.05
rm {tmp_path}/running.$1
""")
    script.chmod(0o755)
    nodes = {f"n{i}": "x" for i in range(6)}
    exec_transport(f"{script} %h", fanout=1).run([Job(nodes, "ignored")])
    counts = (tmp_path / "seen").read_text().split()
    assert len(counts) == 6 and set(counts) == {"1"}


def test_jobs_that_differ_only_by_nodes_run_as_one() -> None:
    jobs = [Job({"a": "1"}, "x"), Job({"b": "2"}, "x"), Job({"c": "3"}, "x", b"in")]
    assert merged(jobs) == [Job({"a": "1", "b": "2"}, "x"), Job({"c": "3"}, "x", b"in")]


def fake_ssh(tmp_path: Path) -> Path:
    """A stand-in for ssh: prints its arguments one per line and its stdin."""
    path = tmp_path / "ssh"
    path.write_text('#!/bin/sh\nfor a in "$@"; do echo "arg:$a"; done\ncat\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_ssh_connects_to_the_address_with_the_settings(tmp_path: Path) -> None:
    settings = FleetSettings(connect_timeout=4, ssh=SshSettings(
        path=str(fake_ssh(tmp_path)), user="root", identity_file="/keys/id",
        known_hosts="/keys/known", options=("-F", "/dev/null")))
    results = ClusterShellTransport(settings).run(
        [Job({"io1": "198.51.100.11"}, "tandem config install --stdin", b"SECRET")])
    lines = results["io1"].stdout.splitlines()
    args = [line[4:] for line in lines if line.startswith("arg:")]
    assert args[:2] == ["-F", "/dev/null"]
    for expected in ("-i", "/keys/id", "-oUserKnownHostsFile=/keys/known",
                     "-oStrictHostKeyChecking=yes", "-oConnectTimeout=4",
                     "-oBatchMode=yes", "-l", "root"):
        assert expected in args
    assert args[-2:] == ["198.51.100.11", "tandem config install --stdin"]
    assert "io1" not in args and not any("SECRET" in a for a in args)
    assert lines[-1] == "SECRET"  # the payload goes on stdin
    assert os.environ.get("SSH_AUTH_SOCK") is None or "-oForwardAgent=no" in args
