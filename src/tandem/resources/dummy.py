"""`dummy`: a resource that is only a state file — cheap, for tests, demos of the engine,
and the scale benchmark. Its `fail_file` parameter lets a test make its monitor fail (the
resource reports failure while that file exists), and `stop_fail_file` its stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tandem.resources.base import (
    AgentResult,
    ParamError,
    ParamSpec,
    ResourceAgent,
    Timeouts,
    failure,
    not_running,
    success,
)
from tandem.resources.registry import register

STATE_DIR = "/run/tandem/dummy"


@register
class DummyAgent(ResourceAgent):
    """A state file under /run/tandem/dummy: present while started."""

    name = "dummy"
    summary = "a resource that only records its state (tests and benchmarks)"
    params = (
        ParamSpec("state_dir", "string", default=STATE_DIR,
                  description="directory of the state file"),
        ParamSpec("delay_ms", "integer", default=0,
                  description="time each start and stop takes"),
        ParamSpec("fail_file", "string", default="",
                  description="while this file exists, status and monitor fail"),
        ParamSpec("stop_fail_file", "string", default="",
                  description="while this file exists, stop fails"),
    )
    timeouts = Timeouts(start=10, stop=10, status=5, monitor=5)

    def validate(self) -> None:
        if not str(self.values["state_dir"]).startswith("/"):
            raise ParamError(self.resource, "state_dir", "must be an absolute path")
        if self.values["delay_ms"] < 0:
            raise ParamError(self.resource, "delay_ms", "must be >= 0")

    @property
    def _state(self) -> Path:
        return Path(self.values["state_dir"]) / self.resource

    def _flag(self, key: str) -> bool:
        path = self.values[key]
        return bool(path) and Path(path).exists()

    async def _pause(self) -> None:
        if self.values["delay_ms"]:
            await asyncio.sleep(self.values["delay_ms"] / 1000)

    async def start(self) -> AgentResult:
        await self._pause()
        self._state.parent.mkdir(parents=True, exist_ok=True)
        self._state.touch()
        return success()

    async def stop(self) -> AgentResult:
        await self._pause()
        if self._flag("stop_fail_file"):
            return failure("stop refused (stop_fail_file exists)")
        self._state.unlink(missing_ok=True)
        return success()

    async def status(self) -> AgentResult:
        if not self._state.exists():
            return not_running()
        if self._flag("fail_file"):
            return failure("failing on purpose (fail_file exists)")
        return success()
