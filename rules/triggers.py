"""Triggers: what starts a rule. Entity triggers listen to state changes, MQTT triggers to topics,
schedule triggers (time, cron, interval, sun) wait on the clock, and `hub` fires at start.

`attach()` connects a trigger to the hub and returns the function that disconnects it. Each fire
hands over the trigger data templates see as `trigger` (`trigger.id`, `trigger.to_state.state`,
`trigger.payload_json`, ...) and the causal chain the loop guard follows.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from hub.errors import RuleError
from hub.events import StateChanged
from hub.state import State
from hub.timers import TimerRecord
from rules import schema
from rules.conditions import attribute_or_value, in_range, number, numeric_value
from rules.context import Services
from rules.deadlines import key_of
from rules.durations import format_duration
from rules.guard import NO_CHAIN, Chain
from rules.holds import Holds
from rules.hubapi import IncomingMessage
from rules.templates import same_state, state_view, truthy

Fire = Callable[[dict[str, Any], Chain], None]
Late = Callable[[float, dict[str, Any]], bool]
Detach = Callable[[], None]


class TriggerEnv:
    """Where a trigger is attached: the engine's services, the rule (None inside a wait) and `fire`."""

    def __init__(
        self,
        services: Services,
        rule_id: str | None,
        fire: Fire,
        resumed: Mapping[str, TimerRecord] | None = None,
        late: Late | None = None,
    ) -> None:
        self.services = services
        self.rule_id = rule_id
        self.fire = fire
        self.resumed = resumed or {}
        self._late = late

    def sleep_until(self, deadline: float) -> Any:
        """The clock's sleep."""
        return self.services.hub.clock.sleep_until(deadline)

    def now(self) -> float:
        """The clock's time."""
        return self.services.time()

    def state(self, entity_id: str) -> State | None:
        """An entity's current state."""
        return self.services.hub.store.get(entity_id)

    def spawn_task(self, coro: Any) -> asyncio.Task[None]:
        """Run a coroutine as a task of the engine."""
        return self.services.spawn(coro)

    def save(self, key: str, deadline: float, payload: Mapping[str, Any]) -> None:
        """Persist a deadline of this rule."""
        if self.rule_id is not None:
            self.services.deadlines.save(self.rule_id, key, deadline, payload)

    def forget(self, key: str) -> None:
        """Delete a persisted deadline."""
        if self.rule_id is not None:
            self.services.deadlines.delete(key)

    def late(self, deadline: float, data: dict[str, Any]) -> bool:
        """Whether a deadline missed while the hub was down still fires."""
        return True if self._late is None else self._late(deadline, data)

    def saved(self, key: str, fingerprint: str) -> TimerRecord | None:
        """A deadline saved before the restart for this key, if it belongs to the same trigger."""
        record = self.resumed.get(key)
        return record if record is not None and record.payload.get("fp") == fingerprint else None


class Trigger(ABC):
    """One trigger of a rule."""

    kind: ClassVar[str]

    def __init__(self, model: schema.TriggerModel, index: int, path: str, fingerprint: str) -> None:
        self.index = index
        self.id = model.id if model.id is not None else str(index)
        self.path = path
        self.enabled = model.enabled
        self.fingerprint = fingerprint

    def data(self, **values: Any) -> dict[str, Any]:
        """The trigger data of one firing."""
        return {"id": self.id, "idx": self.index, "platform": self.kind, **values}

    @abstractmethod
    async def attach(self, env: TriggerEnv) -> Detach:
        """Start listening; returns the function that stops it."""

    @abstractmethod
    def describe(self) -> str:
        """A short description for `rules list` and traces."""


# --- entity triggers --------------------------------------------------------------------------
class EntityTrigger(Trigger):
    """A trigger on entity state changes, with optional `for:`."""

    entity_ids: tuple[str, ...]
    hold_for: float | None

    async def attach(self, env: TriggerEnv) -> Detach:
        """Watch each entity; resume holds saved before a restart."""
        holds = Holds(env, self, self.hold_for) if self.hold_for else None
        stops = [env.services.watch.entity(e, self._listener(env, holds)) for e in self.entity_ids]
        if holds is not None and env.rule_id is not None:
            for entity_id in self.entity_ids:
                record = env.saved(key_of(env.rule_id, f"for:{self.index}:{entity_id}"), self.fingerprint)
                if record is not None:
                    holds.resume(entity_id, record)

        def detach() -> None:
            for stop in stops:
                stop()
            if holds is not None:
                holds.close()

        return detach

    def _listener(self, env: TriggerEnv, holds: Holds | None) -> Callable[[StateChanged], None]:
        def changed(event: StateChanged) -> None:
            entity_id = event.entity_id
            if holds is not None and holds.pending(entity_id):
                if holds.still(entity_id, event.new):
                    return
                holds.cancel(entity_id)
            if not self.transition(event.old, event.new):
                return
            location = env.services.location
            data = self.data(
                entity_id=entity_id,
                from_state=state_view(event.old, location),
                to_state=state_view(event.new, location),
                **({"for": self.hold_for} if self.hold_for else {}),
            )
            chain = env.services.guard.entity_cause(entity_id)
            if holds is None:
                env.fire(data, chain)
            else:
                holds.begin(entity_id, data, chain, self.reference(event.new))

        return changed

    @abstractmethod
    def transition(self, old: State | None, new: State) -> bool:
        """Whether this change fires the trigger (or starts its hold)."""

    @abstractmethod
    def keeps(self, state: State | None, reference: Any) -> bool:
        """Whether a hold survives this state."""

    def reference(self, state: State) -> Any:
        """What a hold compares later states with."""
        return None

    def _for_text(self) -> str:
        return f" for {format_duration(self.hold_for)}" if self.hold_for else ""


def _any_same(value: Any, choices: tuple[Any, ...]) -> bool:
    return any(same_state(value, choice) for choice in choices)


class StateTrigger(EntityTrigger):
    """`trigger: state` — from / to / not_from / not_to, on the state or an attribute."""

    kind = "state"

    def __init__(self, model: schema.StateTriggerModel, index: int, path: str, fingerprint: str) -> None:
        super().__init__(model, index, path, fingerprint)
        self.model = model
        self.entity_ids = model.entity_id
        self.hold_for = model.for_
        # Without from/to, going to or from 'unavailable' is not a state change people mean.
        self._explicit = any(v is not None for v in (model.from_, model.to, model.not_from, model.not_to))

    def _value(self, state: State | None) -> Any:
        return attribute_or_value(state, self.model.attribute)

    def transition(self, old: State | None, new: State) -> bool:
        """A change of the value (or attribute) that passes from / to / not_from / not_to."""
        before, after = self._value(old), self._value(new)
        if before == after:
            return False
        m = self.model
        if not self._explicit and self.model.attribute is None and "unavailable" in (before, after):
            return False
        if m.from_ is not None and not _any_same(before, m.from_):
            return False
        if m.not_from is not None and _any_same(before, m.not_from):
            return False
        if m.to is not None and not _any_same(after, m.to):
            return False
        return not (m.not_to is not None and _any_same(after, m.not_to))

    def keeps(self, state: State | None, reference: Any) -> bool:
        """The value still matches `to` (or `not_to`, or stays what it became)."""
        value = self._value(state)
        if self.model.to is not None:
            return _any_same(value, self.model.to)
        if self.model.not_to is not None:
            return not _any_same(value, self.model.not_to)
        return bool(same_state(value, reference))

    def reference(self, state: State) -> Any:
        """The value the entity changed to."""
        return self._value(state)

    def describe(self) -> str:
        """e.g. `state binary_sensor.rain → on`."""
        m = self.model
        parts = [f"state {', '.join(self.entity_ids)}" + (f" [{m.attribute}]" if m.attribute else "")]
        if m.from_ is not None:
            parts.append(f"from {'/'.join(map(str, m.from_))}")
        if m.to is not None:
            parts.append(f"to {'/'.join(map(str, m.to))}")
        return " ".join(parts) + self._for_text()


class NumericStateTrigger(EntityTrigger):
    """`trigger: numeric_state` — the number enters the range above / below."""

    kind = "numeric_state"

    def __init__(self, model: schema.NumericStateTriggerModel, index: int, path: str, fingerprint: str) -> None:
        super().__init__(model, index, path, fingerprint)
        self.model = model
        self.entity_ids = model.entity_id
        self.hold_for = model.for_
        self._services: Services | None = None

    async def attach(self, env: TriggerEnv) -> Detach:
        """Remember the services (templates need them), then watch."""
        self._services = env.services
        return await super().attach(env)

    def _inside(self, state: State | None) -> bool:
        if state is None or not state.available or self._services is None:
            return False
        try:
            value = numeric_value(self._services, state, self.model.attribute, self.model.value_template)
        except (ValueError, TypeError):
            return False
        return in_range(number(value), self.model.above, self.model.below)

    def transition(self, old: State | None, new: State) -> bool:
        """Fires when the number crosses into the range."""
        return self._inside(new) and not self._inside(old)

    def keeps(self, state: State | None, reference: Any) -> bool:
        """Still in the range."""
        return self._inside(state)

    def describe(self) -> str:
        """e.g. `sensor.bed1_soil_moisture below 30 for 10 min`."""
        limits = []
        if self.model.above is not None:
            limits.append(f"above {self.model.above:g}")
        if self.model.below is not None:
            limits.append(f"below {self.model.below:g}")
        return f"{', '.join(self.entity_ids)} {' and '.join(limits)}{self._for_text()}"


class AvailabilityTrigger(EntityTrigger):
    """`trigger: availability` — the entity's device becomes unavailable / available."""

    kind = "availability"

    def __init__(self, model: schema.AvailabilityTriggerModel, index: int, path: str, fingerprint: str) -> None:
        super().__init__(model, index, path, fingerprint)
        self.entity_ids = model.entity_id
        self.hold_for = model.for_
        self.wanted = model.to == "available"

    def transition(self, old: State | None, new: State) -> bool:
        """Availability changed to the wanted one."""
        return new.available == self.wanted and (old is None or old.available != self.wanted)

    def keeps(self, state: State | None, reference: Any) -> bool:
        """Still (un)available."""
        return state is not None and state.available == self.wanted

    def describe(self) -> str:
        """e.g. `lawn_mower.garden becomes unavailable`."""
        return f"{', '.join(self.entity_ids)} becomes {'available' if self.wanted else 'unavailable'}{self._for_text()}"


# --- MQTT -------------------------------------------------------------------------------------
class MqttTrigger(Trigger):
    """`trigger: mqtt` — a message on a topic; `trigger.payload` (text) and `trigger.payload_json`."""

    kind = "mqtt"

    def __init__(self, model: schema.MqttTriggerModel, index: int, path: str, fingerprint: str) -> None:
        super().__init__(model, index, path, fingerprint)
        self.model = model

    async def attach(self, env: TriggerEnv) -> Detach:
        """Subscribe through the hub's shared connection."""
        mqtt = env.services.hub.mqtt
        if mqtt is None:
            raise RuleError("it has an mqtt trigger, but the hub has no MQTT connection")
        return await mqtt.subscribe(self.model.topic, self._handler(env), qos=self.model.qos)

    def _handler(self, env: TriggerEnv) -> Callable[[IncomingMessage], None]:
        model = self.model
        base = self.data()
        guard = env.services.guard
        helpers = env.services.helpers

        def handle(message: IncomingMessage) -> None:
            text = message.payload.decode("utf-8", "replace")
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if model.value_template is not None:
                scope = {**helpers.globals, "value": text, "value_json": parsed}
                try:
                    value, shown = truthy(model.value_template, scope)
                except Exception:
                    return  # a payload the template cannot read does not fire
                if (model.payload is None and not value) or (model.payload is not None and str(shown) != model.payload):
                    return
            elif model.payload is not None and text != model.payload:
                return
            data = {**base, "topic": message.topic, "payload": text, "payload_json": parsed, "qos": model.qos}
            data["retain"] = message.retain
            env.fire(data, guard.topic_cause(message.topic))

        return handle

    def describe(self) -> str:
        """e.g. `mqtt bench/sensor/0`."""
        return f"mqtt {self.model.topic}" + (f" = {self.model.payload}" if self.model.payload is not None else "")


# --- hub start --------------------------------------------------------------------------------
class HubTrigger(Trigger):
    """`trigger: hub` — the hub has started."""

    kind = "hub"

    async def attach(self, env: TriggerEnv) -> Detach:
        """Ask the engine to call back at start."""
        return env.services.control.on_hub_start(lambda: env.fire(self.data(event="start"), NO_CHAIN))

    def describe(self) -> str:
        """`hub start`."""
        return "hub start"
