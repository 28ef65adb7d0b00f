"""Calling the engine's resource agents from the (synchronous, one-shot) toolkit, so
that haip and hamount share the address and mount code the cluster engine uses."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping
from typing import Any

from tandem.hpc.mgmt.errors import DataError
from tandem.resources.base import AgentResult, ParamError, ResourceAgent, timed
from tandem.resources.registry import get_agent


def bind(agent: str, where: str, params: Mapping[str, Any]) -> ResourceAgent:
    """An agent bound to the data line at `where` (FILE:LINE); a parameter the agent
    refuses is a DataError naming that line."""
    resource = "ha-" + re.sub(r"[^A-Za-z0-9_.-]", "-", os.path.basename(where))
    try:
        return get_agent(agent).create(resource, params)
    except ParamError as exc:
        raise DataError(f"{where}: {exc.param}: {exc.problem}") from None


def call(agent: ResourceAgent, action: str) -> AgentResult:
    """Run one action with the agent's timeout, and let any follow-up work it left
    behind (repeated address announcements) finish before the command exits."""

    async def action_and_followups() -> AgentResult:
        result = await timed(action, agent)
        current = asyncio.current_task()
        pending = [task for task in asyncio.all_tasks() if task is not current]
        if pending:
            await asyncio.wait(pending, timeout=agent.timeouts.start)
        return result

    return asyncio.run(action_and_followups())
