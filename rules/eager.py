"""Start a coroutine eagerly: run it at once, on the caller's stack, until it first has to wait.

Most rule runs never wait (check a template, queue an MQTT publish, done): started eagerly they
finish inside the MQTT or state-change callback that triggered them, with no task and no trip
through the event loop. A run that does wait (a command awaiting its confirmation, a delay)
continues in a task from exactly where it stopped.

Until it first waits, the coroutine runs as part of whoever called (`asyncio.current_task()` is
the caller's task), so it must not use anything that holds on to the current task, as
`asyncio.timeout` (and `asyncio.wait_for` since Python 3.12) do. A rule run therefore yields once
before its first action that may wait (`rules.run.Run.step`) and goes on in its own task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Generator
from typing import Any

Spawn = Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]]

MAX_DEPTH = 8  # eager runs started from eager runs; deeper ones go to a task (no unbounded recursion)


class _Nesting:
    depth = 0  # how many eager starts are on the stack right now (one event loop per thread)


def start_eagerly(coro: Coroutine[Any, Any, None], spawn: Spawn) -> asyncio.Task[None] | None:
    """Run `coro` until it first waits; None if it finished, else the task that continues it."""
    if _Nesting.depth >= MAX_DEPTH:
        return spawn(coro)
    _Nesting.depth += 1
    try:
        first = coro.send(None)
    except StopIteration:
        return None
    finally:
        _Nesting.depth -= 1
    return spawn(_Resumed(coro, first))


class _Resumed(Coroutine[Any, Any, None]):
    """A coroutine already started: a task's first step gets what it is waiting on, then it goes on."""

    def __init__(self, coro: Coroutine[Any, Any, None], first: Any) -> None:
        self._coro = coro
        self._first = first
        self._started = False

    def send(self, value: Any) -> Any:
        """Step the coroutine (the first step hands the task the future it already waits on)."""
        if not self._started:
            self._started = True
            return self._first
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        """Raise inside the coroutine where it waits (a cancelled task cancels what it waited on)."""
        if not self._started:
            self._started = True
            if isinstance(self._first, asyncio.Future):
                self._first.cancel()
        exc = typ if isinstance(typ, BaseException) else (typ() if val is None else val)
        return self._coro.throw(exc)

    def close(self) -> None:
        """Close the coroutine."""
        self._coro.close()

    def __await__(self) -> Generator[Any, None, None]:
        raise TypeError("a resumed run is driven by its task, not awaited")
