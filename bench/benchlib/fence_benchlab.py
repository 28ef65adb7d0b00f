#!/usr/bin/python3
"""fence_benchlab: the fence agent Pacemaker uses in the benchmarks' lab.

It powers a lab node off (or on) through that node's virtual BMC with Debian's
`ipmitool -I lanplus`, exactly the path tandem's own fencing takes, so both stacks pay
the same price for fencing. It follows the fence-agents calling convention: options
as `key=value` lines on stdin (or `-o ACTION` on the command line), exit 0 on success;
`status` exits 0 when the node is on and 2 when it is off.
"""

from __future__ import annotations

import subprocess
import sys
import time

ACTIONS = ("on", "off", "reboot", "status", "monitor", "list", "metadata",
           "validate-all")
METADATA = """<?xml version="1.0" ?>
<resource-agent name="fence_benchlab" shortdesc="Fence a tandem lab node through its BMC">
<longdesc>Powers a lab node off or on with ipmitool -I lanplus against its virtual BMC.</longdesc>
<vendor-url>https://example.invalid/tandem</vendor-url>
<parameters>
 <parameter name="action" unique="0" required="0">
  <getopt mixed="-o, --action=[action]"/>
  <content type="string" default="off"/>
  <shortdesc lang="en">Fencing action</shortdesc>
 </parameter>
 <parameter name="ip" unique="0" required="1">
  <getopt mixed="-a, --ip=[ip]"/>
  <content type="string"/>
  <shortdesc lang="en">Address of the node's BMC</shortdesc>
 </parameter>
 <parameter name="username" unique="0" required="1">
  <getopt mixed="-l, --username=[name]"/>
  <content type="string"/>
  <shortdesc lang="en">BMC user</shortdesc>
 </parameter>
 <parameter name="password" unique="0" required="1">
  <getopt mixed="-p, --password=[password]"/>
  <content type="string"/>
  <shortdesc lang="en">BMC password</shortdesc>
 </parameter>
 <parameter name="plug" unique="0" required="0">
  <getopt mixed="-n, --plug=[name]"/>
  <content type="string"/>
  <shortdesc lang="en">Name of the node (informational)</shortdesc>
 </parameter>
</parameters>
<actions>
 <action name="on" automatic="0"/>
 <action name="off"/>
 <action name="reboot"/>
 <action name="status"/>
 <action name="monitor"/>
 <action name="list"/>
 <action name="metadata"/>
 <action name="validate-all"/>
</actions>
</resource-agent>
"""
FLAGS = {"-o": "action", "--action": "action", "-a": "ip", "--ip": "ip",
         "-l": "username", "--username": "username", "-p": "password",
         "--password": "password", "-n": "plug", "--plug": "plug"}


def read_options(argv: list[str]) -> dict[str, str]:
    """Options from the command line, else `key=value` lines on stdin."""
    opts: dict[str, str] = {}
    for flag, value in zip(argv[::2], argv[1::2], strict=False):
        if flag in FLAGS:
            opts[FLAGS[flag]] = value
    if not argv:
        for line in sys.stdin.read(65536).splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                opts[key.strip()] = value.strip()
    if "port" in opts and "plug" not in opts:
        opts["plug"] = opts["port"]
    return opts


def ipmi(opts: dict[str, str], *command: str) -> str:
    argv = ["ipmitool", "-I", "lanplus", "-H", opts["ip"], "-U", opts["username"],
            "-P", opts["password"], "chassis", "power", *command]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ipmitool power {' '.join(command)}: {done.stderr.strip()}")
    return done.stdout.strip().lower()


def set_power(opts: dict[str, str], state: str) -> None:
    """Ask for `state` and wait (bounded) until the BMC reads it back."""
    ipmi(opts, state)
    for _ in range(50):
        if ipmi(opts, "status").endswith(state):
            return
        time.sleep(0.1)
    raise RuntimeError(f"power did not read {state} after the request")


def act(opts: dict[str, str], action: str) -> int:
    """Carry out one power action; the exit code fence-agents callers expect."""
    if action in ("status", "monitor"):
        on = ipmi(opts, "status").endswith("on")
        return 0 if on or action == "monitor" else 2
    if action == "list":
        print(f"{opts.get('plug', 'node')},")
    if action in ("off", "reboot"):
        set_power(opts, "off")
    if action in ("on", "reboot"):
        set_power(opts, "on")
    return 0


def main(argv: list[str]) -> int:
    opts = read_options(argv)
    action = opts.get("action", "off")
    if action == "metadata":
        print(METADATA)
        return 0
    problem = None
    if action not in ACTIONS:
        problem = f"unknown action {action!r}"
    elif any(key not in opts for key in ("ip", "username", "password")):
        problem = "ip, username and password are required"
    if problem:
        print(f"fence_benchlab: {problem}", file=sys.stderr)
        return 1
    if action == "validate-all":
        return 0
    try:
        return act(opts, action)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"fence_benchlab: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
