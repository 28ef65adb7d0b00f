"""Fence device type `ipmi`: a node's BMC over IPMI v2.0 LAN ("lanplus").

The device drives Debian's `ipmitool -I lanplus` as a child process rather than
pyghmi's client, although DESIGN.md prefers pyghmi. pyghmi's client does work
against our VirtualBmc since the server negotiates cipher suite 17 honestly (the
"RAKP2 hash length mismatch" was the stock pyghmi server answering SHA-1 to a
SHA-256 proposal), and it is faster (~5 ms a call against ~20 ms). It is still the
wrong tool for fencing because it runs inside our process:

* it cannot be killed: a call stuck in pyghmi keeps a thread (and possibly a power
  request in flight) after we gave up or were cancelled, while safety rule 6 wants the
  work *killed* on timeout; a child process group can be killed outright;
* its login timeout (~5 s) is fixed inside the library, not set by the device's
  `timeout_s`;
* it shares one process-wide I/O thread and session cache with everything else in
  the daemon, and needs a working loopback in the node's namespace to wake that
  thread up.

The password reaches ipmitool through the environment (`-E`, `IPMI_PASSWORD`),
which only the same user can read, never through the command line.

In the daemon, commands go through a session kept open to the BMC
(`tandem.fencing.ipmishell`) unless the device sets `session = "per-call"` (for BMCs
with few session slots); any trouble with the kept session falls back to one-shot.
"""

from __future__ import annotations

import os
import re

from tandem.config.model import IPMI_OPTIONS, IPMI_SESSION_MODES, FenceDeviceDef
from tandem.fencing.base import (
    FenceAgentError,
    FenceAuthError,
    FenceConfigError,
    FenceDevice,
    FenceError,
    FenceTarget,
    FenceUnreachable,
    PowerState,
)
from tandem.fencing.ipmishell import IpmiSessions, SessionKey
from tandem.fencing.proc import one_line, run_command

IPMITOOL = "/usr/bin/ipmitool"
PER_TRY_S = 1
OPTION_FLAGS = {"cipher": "-C", "privlvl": "-L"}
# Worst case of `ipmitool -N 1 -R n` against a silent address, measured: n=1: 2 s,
# n=2: 6 s, n=3: 12 s. The most retries that still end before the device timeout.
RETRY_BUDGET = ((3, 12.0), (2, 6.0), (1, 2.0))

_AUTH = re.compile(r"RAKP 2 HMAC is invalid|unauthorized name|RAKP 4|integrity check|"
                   r"[Uu]nauthorized role|[Ii]nvalid role", re.IGNORECASE)
_UNREACHABLE = re.compile(r"Get Auth Capabilities error|Get Channel Authentication "
                          r"Capabilities|No response|Unable to establish", re.IGNORECASE)
_NOISE = re.compile(r"^(Loading IANA|Using best available|Running Get VSO|Discovered IPMB|"
                    r"Invalid completion code received: Invalid command)")
STATUS_ANSWER = re.compile(r"Chassis Power is (on|off)")
_EXPECT = {"status": STATUS_ANSWER, "off": re.compile(r"Chassis Power Control: Down/Off"),
           "on": re.compile(r"Chassis Power Control: Up/On")}


class IpmiDevice(FenceDevice):
    """A BMC reached with ipmitool; `options` may set `cipher` (-C), `privlvl` (-L)
    and `session` ("keep", the default where `sessions` are given, or "per-call")."""

    def __init__(self, definition: FenceDeviceDef, *, ipmitool: str = IPMITOOL,
                 sessions: IpmiSessions | None = None) -> None:
        super().__init__(definition)
        self.ipmitool = ipmitool
        options = dict(definition.options)
        unknown = sorted(k for k in options if k not in IPMI_OPTIONS)
        if unknown:
            raise FenceConfigError(f"ipmi device {definition.name!r}: unknown option(s) "
                                   f"{', '.join(unknown)} (known: {', '.join(IPMI_OPTIONS)})")
        mode = options.get("session", "keep")
        if mode not in IPMI_SESSION_MODES:
            raise FenceConfigError(f"ipmi device {definition.name!r}: option session must "
                                   f"be keep or per-call, not {mode!r}")
        self.sessions = sessions if mode == "keep" else None

    async def off(self, target: FenceTarget) -> None:
        await self._run(target, "off")

    async def on(self, target: FenceTarget) -> None:
        await self._run(target, "on")

    async def status(self, target: FenceTarget) -> PowerState:
        output = await self._run(target, "status")
        match = STATUS_ANSWER.search(output)
        return PowerState(match.group(1)) if match else PowerState.UNKNOWN

    def argv(self, target: FenceTarget, action: str) -> list[str]:
        """The ipmitool command line for `action` (it never holds the password)."""
        retries = next((n for n, worst in RETRY_BUDGET if worst < self.definition.timeout_s), 1)
        return [self.ipmitool, "-v", *self._connection(target, retries),
                "chassis", "power", action]

    def shell_argv(self, target: FenceTarget) -> list[str]:
        """The command line of a kept session: one try per command, then one-shot."""
        return [self.ipmitool, *self._connection(target, 1), "shell"]

    def _connection(self, target: FenceTarget, retries: int) -> list[str]:
        if not target.address:
            raise FenceConfigError(f"ipmi device {self.name!r} has no address for "
                                   f"{target.node} (set one or give the node a [nodes.bmc])")
        argv = ["-I", "lanplus", "-H", target.address, "-p", str(target.port),
                "-N", str(PER_TRY_S), "-R", str(retries), "-E"]
        if target.user:
            argv += ["-U", target.user]
        for key, value in self.definition.options:
            if key in OPTION_FLAGS:
                argv += [OPTION_FLAGS[key], value]
        return argv

    async def _run(self, target: FenceTarget, action: str) -> str:
        argv = self.argv(target, action)
        if target.password is None:
            raise FenceConfigError(f"ipmi device {self.name!r} has no password for "
                                   f"{target.node}")
        env = {**os.environ, "IPMI_PASSWORD": target.password, "LC_ALL": "C"}
        if self.sessions is not None:
            key = SessionKey.make(self.shell_argv(target), target.password,
                                  f"{target.user or '(no user)'}@{target.address}:{target.port}")
            output = await self.sessions.run(key, env,
                                             f"chassis power {action}", _EXPECT[action])
            if output is not None:
                return output
        result = await run_command(argv, timeout_s=self.definition.timeout_s, env=env)
        if result.returncode != 0:
            raise self._error(target, action, result.stderr)
        return result.stdout

    def _error(self, target: FenceTarget, action: str, stderr: str) -> FenceError:
        where = f"{self.name}: power {action} of {target.node} via {target.address}:{target.port}"
        lines = [ln.strip() for ln in stderr.splitlines()
                 if ln.strip() and not _NOISE.match(ln.strip())]
        detail = one_line(lines[-1] if lines else "ipmitool failed without a message")
        if _AUTH.search(stderr):
            return FenceAuthError(f"{where}: BMC refused user {target.user!r} or its password")
        if "no matching cipher suite" in stderr.lower():
            return FenceAgentError(f"{where}: no cipher suite in common with the BMC")
        if _UNREACHABLE.search(stderr):
            return FenceUnreachable(f"{where}: BMC does not answer ({detail})")
        return FenceAgentError(f"{where}: {detail}")
