"""State changes routed by entity: one bus listener for the whole engine, a dict lookup per change.

Triggers and waits register per entity (or for every change, as `wait_template` must); a failing
callback is logged and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hub.bus import EventBus
from hub.events import Event, StateChanged

log = logging.getLogger(__name__)

OnChange = Callable[[StateChanged], None]


class StateWatch:
    """Calls the callbacks registered for an entity when its state changes."""

    def __init__(self, bus: EventBus) -> None:
        self._by_entity: dict[str, list[OnChange]] = {}
        self._everything: list[OnChange] = []
        self._stop = bus.listen(StateChanged, callback=self._on_event)

    def entity(self, entity_id: str, callback: OnChange) -> Callable[[], None]:
        """Call `callback` on every change of this entity; returns the function that stops it."""
        callbacks = self._by_entity.setdefault(entity_id, [])
        callbacks.append(callback)
        return lambda: callbacks.remove(callback) if callback in callbacks else None

    def everything(self, callback: OnChange) -> Callable[[], None]:
        """Call `callback` on every change of any entity; returns the function that stops it."""
        self._everything.append(callback)
        return lambda: self._everything.remove(callback) if callback in self._everything else None

    def close(self) -> None:
        """Stop listening to the bus."""
        self._stop()

    def _on_event(self, event: Event) -> None:
        assert isinstance(event, StateChanged)
        callbacks = self._by_entity.get(event.entity_id)
        if callbacks:
            self._call(callbacks, event)
        if self._everything:
            self._call(self._everything, event)

    @staticmethod
    def _call(callbacks: list[OnChange], event: StateChanged) -> None:
        for callback in tuple(callbacks):
            try:
                callback(event)
            except Exception:
                # One broken rule must not keep the others from seeing the change.
                log.exception("A rule failed on a state change of %s", event.entity_id)
