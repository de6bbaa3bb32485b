"""The state store: the one place that knows every entity and its current state.

Drivers write through `set()`; readers get immutable `State` objects; every change is published on
the bus as `StateChanged`. Waiters let a command resolve the moment the device confirms it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from hub.bus import EventBus
from hub.clock import Clock
from hub.entity import EntitySpec
from hub.events import EntityAdded, EntityRemoved, StateChanged
from hub.state import State

UNSET: Any = object()

Predicate = Callable[[State], bool]


class StateStore:
    """Entities, their specs and current states."""

    def __init__(self, bus: EventBus, clock: Clock) -> None:
        self._bus = bus
        self._clock = clock
        self._specs: dict[str, EntitySpec] = {}
        self._states: dict[str, State] = {}
        self._waiters: dict[str, list[tuple[Predicate, asyncio.Future[State]]]] = {}

    # --- entities -------------------------------------------------------------------------------
    def add(self, spec: EntitySpec) -> None:
        """Announce an entity; it starts unknown and available until its driver says otherwise."""
        self._specs[spec.entity_id] = spec
        if spec.entity_id not in self._states:
            now = self._clock.time()
            self._write(State(spec.entity_id, None, last_changed=now, last_updated=now), old=None)
        self._bus.publish(EntityAdded(self._clock.time(), spec))

    def remove(self, entity_id: str) -> None:
        """Forget an entity and its state."""
        if self._specs.pop(entity_id, None) is not None:
            self._states.pop(entity_id, None)
            self._bus.publish(EntityRemoved(self._clock.time(), entity_id))

    def spec(self, entity_id: str) -> EntitySpec | None:
        """The spec of an entity, or None if there is no such entity."""
        return self._specs.get(entity_id)

    @property
    def specs(self) -> Mapping[str, EntitySpec]:
        """Every known entity by id."""
        return self._specs

    # --- states ---------------------------------------------------------------------------------
    def get(self, entity_id: str) -> State | None:
        """The current state, or None for an unknown entity."""
        return self._states.get(entity_id)

    def __iter__(self) -> Iterator[State]:
        return iter(list(self._states.values()))

    def __len__(self) -> int:
        return len(self._states)

    def set(
        self,
        entity_id: str,
        value: Any = UNSET,
        *,
        attributes: Mapping[str, Any] | None = None,
        available: bool | None = None,
        replace_attributes: bool = False,
    ) -> State:
        """Update what is given, keep the rest; publish `StateChanged` if anything changed."""
        old = self._states.get(entity_id)
        if old is None:
            raise KeyError(f"no entity '{entity_id}'")
        new_value = old.value if value is UNSET else value
        new_attrs: Mapping[str, Any] = old.attributes
        if attributes is not None:
            new_attrs = dict(attributes) if replace_attributes else {**old.attributes, **attributes}
        new_available = old.available if available is None else available
        if new_value == old.value and new_attrs == old.attributes and new_available == old.available:
            # Nothing changed, but a device repeating its state still confirms a command waiting for it.
            self._notify(old)
            return old
        now = self._clock.time()
        changed = new_value != old.value or new_available != old.available
        state = State(
            entity_id,
            new_value,
            new_attrs,
            new_available,
            last_changed=now if changed else old.last_changed,
            last_updated=now,
        )
        self._write(state, old)
        return state

    def _write(self, state: State, old: State | None) -> None:
        self._states[state.entity_id] = state
        self._bus.publish(StateChanged(state.last_updated, state.entity_id, old, state))
        self._notify(state)

    def _notify(self, state: State) -> None:
        waiters = self._waiters.get(state.entity_id)
        if waiters:
            for entry in list(waiters):
                predicate, future = entry
                if not future.done() and predicate(state):
                    future.set_result(state)
                    waiters.remove(entry)

    def waiter(self, entity_id: str, predicate: Predicate) -> asyncio.Future[State]:
        """A future resolved by the first state of `entity_id` (from now on) that satisfies `predicate`.

        Register it *before* sending a command, so a fast device cannot confirm before we listen.
        Cancel the future to stop waiting.
        """
        future: asyncio.Future[State] = asyncio.get_running_loop().create_future()
        entries = self._waiters.setdefault(entity_id, [])
        entry = (predicate, future)
        entries.append(entry)
        future.add_done_callback(lambda _f: entries.remove(entry) if entry in entries else None)
        return future
