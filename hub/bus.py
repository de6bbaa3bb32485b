"""The event bus: typed events fanned out to bounded subscriber queues and cheap in-loop listeners.

A slow subscriber never blocks the device path: when its queue is full the event is dropped for
that subscriber alone and counted under `bus.dropped.<name>`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

from hub.counters import Counters
from hub.events import Event

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)


class Subscription(Generic[E]):
    """A bounded queue of events of some types; iterate it, close it when done."""

    def __init__(self, bus: EventBus, name: str, types: tuple[type[E], ...], maxsize: int) -> None:
        self.name = name
        self.types = types
        self._bus = bus
        self._queue: asyncio.Queue[E] = asyncio.Queue(maxsize)

    def offer(self, event: E) -> bool:
        """Queue the event unless the queue is full; say whether it was queued."""
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True

    async def get(self) -> E:
        """The next event."""
        return await self._queue.get()

    def get_nowait(self) -> E | None:
        """The next event if one is waiting, else None."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def __aiter__(self) -> AsyncIterator[E]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[E]:
        while True:
            yield await self._queue.get()

    def close(self) -> None:
        """Stop receiving events."""
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription[E]:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


Listener = Callable[[Event], None]


class EventBus:
    """Publishes events synchronously to listeners and to subscriber queues."""

    def __init__(self, counters: Counters | None = None) -> None:
        self.counters = counters or Counters()
        self._subscriptions: list[Subscription[Event]] = []
        self._listeners: list[tuple[tuple[type[Event], ...], Listener]] = []

    def publish(self, event: Event) -> None:
        """Hand `event` to every matching listener and subscriber; never blocks."""
        for types, listener in self._listeners:
            if isinstance(event, types):
                try:
                    listener(event)
                except Exception:
                    # A listener bug must not stop the device path; it is logged with its traceback.
                    log.exception("An event listener failed on %s", type(event).__name__)
        for sub in self._subscriptions:
            if isinstance(event, sub.types) and not sub.offer(event):
                self.counters.inc(f"bus.dropped.{sub.name}")

    def subscribe(self, *types: type[E], name: str, maxsize: int = 10_000) -> Subscription[E]:
        """A queue of the given event types (all events if none given)."""
        sub: Subscription[E] = Subscription(self, name, types or (Event,), maxsize)  # type: ignore[arg-type]
        self._subscriptions.append(sub)  # type: ignore[arg-type]
        return sub

    def unsubscribe(self, sub: Subscription[E]) -> None:
        """Remove a subscription (idempotent)."""
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)  # type: ignore[arg-type]

    def listen(self, *types: type[Event], callback: Listener) -> Callable[[], None]:
        """Call `callback` synchronously for each matching event; returns a function that stops it.

        Listeners run on the publisher's path, so they must be quick and must not await.
        """
        entry = (types or (Event,), callback)
        self._listeners.append(entry)
        return lambda: self._listeners.remove(entry) if entry in self._listeners else None
