"""Running a device simulator for the duration of a block, in tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol, TypeVar


class ReadySimulator(Protocol):
    """A simulator with `run()` and a `ready` event set once it is online."""

    ready: asyncio.Event

    async def run(self) -> None: ...


S = TypeVar("S", bound=ReadySimulator)


@contextlib.asynccontextmanager
async def running(sim: S) -> AsyncIterator[S]:
    """Start the simulator, wait (up to 5 s) until it is ready, stop it when the block ends."""
    task = asyncio.create_task(sim.run())
    ready = asyncio.ensure_future(sim.ready.wait())
    await asyncio.wait({task, ready}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    try:
        yield sim
    finally:
        ready.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
