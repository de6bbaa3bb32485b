"""Run modes: what happens when a rule triggers while it is still running.

- `single`: the new run is skipped and counted (no log line per skip).
- `restart`: the running run is cancelled and the new one starts.
- `queued`: the new run waits its turn (at most `max` waiting).
- `parallel`: runs side by side (at most `max` at once).

Runs start eagerly: a run that never waits finishes before `start()` returns, with no task; one
that waits continues in a task of the engine.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from rules.eager import Spawn, start_eagerly
from rules.run import Run


class Runner:
    """Starts the runs of one rule as its mode says."""

    def __init__(self, mode: str, maximum: int, spawn: Spawn, on_skip: Callable[[], None]) -> None:
        self.mode = mode
        self.max = maximum
        self.skipped = 0
        self._spawn = spawn
        self._on_skip = on_skip
        self._active: dict[Run, asyncio.Task[None] | None] = {}
        self._waiting: deque[Run] = deque()
        self._closed = False

    @property
    def running(self) -> int:
        """How many runs are in progress."""
        return len(self._active)

    def refuses(self) -> bool:
        """Whether a run started now would be skipped (counted as skipped if so)."""
        if self._closed:
            return True
        busy = bool(self._active) and (
            self.mode == "single"
            or (self.mode == "parallel" and len(self._active) >= self.max)
            or (self.mode == "queued" and len(self._waiting) >= self.max)
        )
        if busy:
            self.skipped += 1
            self._on_skip()
        return busy

    def start(self, run: Run) -> None:
        """Start or queue a run (ask `refuses()` first)."""
        if self._active:
            if self.mode == "queued":
                self._waiting.append(run)
                return
            if self.mode == "restart":
                self.cancel("restarted by a new trigger")
        self._launch(run)

    def _launch(self, run: Run) -> None:
        self._active[run] = None
        task = start_eagerly(self._body(run), self._spawn)
        if task is not None and run in self._active:
            self._active[run] = task

    async def _body(self, run: Run) -> None:
        try:
            await run.execute()
        finally:
            self._active.pop(run, None)
            if self._waiting and not self._active and not self._closed:
                self._launch(self._waiting.popleft())

    def cancel(self, reason: str) -> None:
        """Cancel every run in progress and drop the waiting ones."""
        self._waiting.clear()
        for run, task in list(self._active.items()):
            run.cancel_reason = reason
            if task is not None:
                task.cancel()

    def close(self, reason: str) -> None:
        """Cancel everything and start nothing more."""
        self._closed = True
        self.cancel(reason)
