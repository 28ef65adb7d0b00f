"""The control-socket commands of the daemon, bound to its engine."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from tandem.daemon.control import Handler
from tandem.daemon.engine import Engine
from tandem.daemon.operator import Operator
from tandem.daemon.status import engine_status


def handlers(engine: Engine) -> dict[str, Handler]:
    """Command name -> coroutine taking the request's args."""
    operator = Operator(engine)

    async def status(_: dict[str, Any]) -> Any:
        if engine.net is not None:
            await engine.net.refresh()  # the transport's counters as of now
        return engine_status(engine).to_json()

    async def events(args: dict[str, Any]) -> Any:
        since = int(args.get("since", 0))
        limit = int(args["limit"]) if args.get("limit") else None
        return {"last": engine.events.last_seq,
                "events": [{"seq": seq, "ts_ms": e.ts_ms, "kind": e.kind, "node": e.node,
                            "service": e.service, "detail": e.detail, **e.data}
                           for seq, e in engine.events.since(since, limit)]}

    async def fence(args: dict[str, Any]) -> Any:
        return await operator.fence(str(args["node"]))

    async def fence_ack(args: dict[str, Any]) -> Any:
        return operator.fence_ack(str(args["node"]))

    async def fence_history(args: dict[str, Any]) -> Any:
        node = args.get("node")
        return [asdict(a) for a in engine.fencer.history.attempts(node)]

    async def unblock(_: dict[str, Any]) -> Any:
        return operator.unblock()

    async def svc(args: dict[str, Any]) -> Any:
        node = args.get("node")
        return operator.service(str(args["service"]), str(args["action"]),
                                str(node) if node else None)

    async def storage_error(args: dict[str, Any]) -> Any:
        return operator.storage_error(str(args["device"]), str(args.get("detail") or ""))

    async def config_push(args: dict[str, Any]) -> Any:
        return operator.push_config(str(args["text"]))

    async def ping(_: dict[str, Any]) -> Any:
        return {"node": engine.local.name, "incarnation": engine.incarnation,
                "pid": os.getpid()}

    return {"status": status, "events": events, "fence": fence, "fence_ack": fence_ack,
            "fence_history": fence_history, "unblock": unblock, "ping": ping, "svc": svc,
            "config_push": config_push, "storage_error": storage_error}
