"""`for:` — a trigger that must keep matching for a while before it fires, persisted across restarts.

When an entity enters the wanted state, a hold starts: its deadline is saved and a task waits on
the clock. A change that breaks the condition cancels it; at the deadline it fires. After a
restart, a saved hold continues until its deadline unless the entity reports a state that breaks
it (an entity that has not reported yet, or is unavailable while its device reconnects, does not
break it); a deadline that passed while the hub was down follows the rule's `late:` choice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hub.state import State
from hub.timers import TimerRecord
from rules.deadlines import key_of
from rules.guard import Chain


class Holdable(Protocol):
    """A trigger that supports `for:`."""

    index: int
    fingerprint: str

    def keeps(self, state: State | None, reference: Any) -> bool:
        """Whether the state still matches (reference: the value when the hold started)."""
        ...


class HoldEnv(Protocol):
    """What a hold needs from its trigger's environment."""

    rule_id: str | None

    def sleep_until(self, deadline: float) -> Any:
        """The clock's sleep."""
        ...

    def now(self) -> float:
        """The clock's time."""
        ...

    def state(self, entity_id: str) -> State | None:
        """An entity's current state."""
        ...

    def fire(self, data: dict[str, Any], chain: Chain) -> None:
        """Fire the trigger."""
        ...

    def spawn_task(self, coro: Any) -> asyncio.Task[None]:
        """Run a coroutine as a task of the engine."""
        ...

    def save(self, key: str, deadline: float, payload: Mapping[str, Any]) -> None:
        """Persist a deadline."""
        ...

    def forget(self, key: str) -> None:
        """Delete a persisted deadline."""
        ...

    def late(self, deadline: float, data: dict[str, Any]) -> bool:
        """Whether a deadline missed while the hub was down still fires (the rule's `late:`)."""
        ...


@dataclass
class _Hold:
    task: asyncio.Task[None]
    reference: Any
    resumed: bool


def _unknown(state: State | None) -> bool:
    return state is None or state.value is None or not state.available


class Holds:
    """The pending holds of one trigger, one per entity."""

    def __init__(self, env: HoldEnv, trigger: Holdable, seconds: float) -> None:
        self._env = env
        self._trigger = trigger
        self._seconds = seconds
        self._pending: dict[str, _Hold] = {}

    def _key(self, entity_id: str) -> str | None:
        rule_id = self._env.rule_id
        return None if rule_id is None else key_of(rule_id, f"for:{self._trigger.index}:{entity_id}")

    def pending(self, entity_id: str) -> bool:
        """Whether a hold is running for this entity."""
        return entity_id in self._pending

    def still(self, entity_id: str, state: State) -> bool:
        """Whether a running hold survives this new state."""
        hold = self._pending[entity_id]
        if hold.resumed and _unknown(state):
            return True
        return self._trigger.keeps(state, hold.reference)

    def begin(self, entity_id: str, data: dict[str, Any], chain: Chain, reference: Any) -> None:
        """Start holding: fire after `for:` unless the state breaks it first."""
        deadline = self._env.now() + self._seconds
        key = self._key(entity_id)
        if key is not None:
            payload = {"fp": self._trigger.fingerprint, "trigger": data, "chain": sorted(chain), "reference": reference}
            self._env.save(key, deadline, payload)
        self._start(entity_id, deadline, data, chain, reference, resumed=False)

    def resume(self, entity_id: str, record: TimerRecord) -> None:
        """Continue a hold saved before a restart (or drop it, as the rule's `late:` says)."""
        payload = record.payload
        data = dict(payload.get("trigger") or {})
        if record.deadline < self._env.now() and not self._env.late(record.deadline, data):
            self._env.forget(record.key)
            return
        chain = frozenset(payload.get("chain") or ())
        self._start(entity_id, record.deadline, data, chain, payload.get("reference"), resumed=True)

    def cancel(self, entity_id: str) -> None:
        """The state broke the hold: stop it and forget its deadline."""
        hold = self._pending.pop(entity_id, None)
        if hold is not None:
            hold.task.cancel()
            key = self._key(entity_id)
            if key is not None:
                self._env.forget(key)

    def close(self) -> None:
        """Stop every hold (their saved deadlines stay: the engine decides what becomes of them)."""
        for hold in self._pending.values():
            hold.task.cancel()
        self._pending.clear()

    def _start(
        self, entity_id: str, deadline: float, data: dict[str, Any], chain: Chain, reference: Any, *, resumed: bool
    ) -> None:
        task = self._env.spawn_task(self._wait(entity_id, deadline, data, chain))
        self._pending[entity_id] = _Hold(task, reference, resumed)

    async def _wait(self, entity_id: str, deadline: float, data: dict[str, Any], chain: Chain) -> None:
        await self._env.sleep_until(deadline)
        hold = self._pending.pop(entity_id, None)
        if hold is None:
            return
        key = self._key(entity_id)
        if key is not None:
            self._env.forget(key)
        state = self._env.state(entity_id)
        if (hold.resumed and _unknown(state)) or self._trigger.keeps(state, hold.reference):
            self._env.fire({**data, "for": self._seconds}, chain)
