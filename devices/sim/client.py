"""The MQTT client the simulators use: aiomqtt, with a guard for a cancellation it can lose.

aiomqtt waits for acknowledgements with `asyncio.wait_for`, which on Python 3.11 drops a
cancellation that arrives just as the awaited call completes; the cancelled simulator then runs on
and whoever waits for it at shutdown hangs. The guard re-raises a cancellation that was requested
during the call. (The hub itself does not use aiomqtt: see devices/mqtt/client.py.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt


def _raise_if_cancel_was_swallowed(task: asyncio.Task[Any] | None, before: int) -> None:
    if task is not None and task.cancelling() > before:
        raise asyncio.CancelledError


class SimClient(aiomqtt.Client):
    """`aiomqtt.Client` whose `publish` and `subscribe` never swallow a cancellation."""

    async def publish(self, *args: Any, **kwargs: Any) -> None:
        """Publish as aiomqtt does; re-raise a cancellation lost on the way."""
        task = asyncio.current_task()
        before = task.cancelling() if task is not None else 0
        await super().publish(*args, **kwargs)
        _raise_if_cancel_was_swallowed(task, before)

    async def subscribe(self, *args: Any, **kwargs: Any) -> Any:
        """Subscribe as aiomqtt does; re-raise a cancellation lost on the way."""
        task = asyncio.current_task()
        before = task.cancelling() if task is not None else 0
        result = await super().subscribe(*args, **kwargs)
        _raise_if_cancel_was_swallowed(task, before)
        return result
