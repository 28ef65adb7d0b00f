"""Fence requests waiting for the next decision: an operator's `tandem fence NODE` or a
peer that cannot fence itself. The decision core answers each one in the next cycle
(carried out, or refused with a reason); an operator's request is awaited."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from tandem.fencing.runner import FenceResult
from tandem.manager.view import FenceRequest

MAX_PENDING = 64  # peers' requests beyond this are dropped (a member asks once a cycle)


class FenceRequests:
    """Requests not yet decided, and the operators waiting for theirs."""

    def __init__(self) -> None:
        self._next = 1
        self._pending: list[FenceRequest] = []
        self._waiters: dict[int, asyncio.Future[FenceResult | None]] = {}

    def add(self, node_id: int, origin: int, reason: str) -> int:
        """Queue a request; its number."""
        if any(r.node_id == node_id and r.origin == origin and origin for r in self._pending):
            return 0  # the same peer asked already
        if len(self._pending) >= MAX_PENDING:
            self._pending.pop(0)
        request = FenceRequest(self._next, node_id, origin, reason)
        self._next += 1
        self._pending.append(request)
        return request.request

    def wait(self, request: int) -> Awaitable[FenceResult | None]:
        """What the fence asked for by `request` ends with (ValueError if refused)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[request] = waiter
        return waiter

    def take(self) -> tuple[FenceRequest, ...]:
        """The pending requests, for this cycle's view (each is decided exactly once)."""
        taken, self._pending = tuple(self._pending), []
        return taken

    def started(self, request: int, task: asyncio.Task[FenceResult | None]) -> None:
        waiter = self._waiters.pop(request, None)
        if waiter is None:
            return

        def done(finished: asyncio.Task[FenceResult | None]) -> None:
            if waiter.done():
                return
            if finished.cancelled():
                waiter.set_exception(ValueError("the fence was cancelled: this node lost "
                                                "quorum or is stopping"))
            elif finished.exception() is not None:
                waiter.set_exception(ValueError(f"fencing failed: {finished.exception()}"))
            else:
                waiter.set_result(finished.result())

        task.add_done_callback(done)

    def refused(self, request: int, why: str) -> None:
        waiter = self._waiters.pop(request, None)
        if waiter is not None and not waiter.done():
            waiter.set_exception(ValueError(why))
