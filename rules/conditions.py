"""Conditions: checked after a trigger fires (and by `if`, `choose`, `repeat`); each one records in
the trace what it saw and what it decided, so "why didn't it run?" has an answer.

A condition that cannot be evaluated (a template error, a value that is not a number) is false,
with the reason in the trace.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import time
from typing import Any

from hub.state import State
from hub.template import TemplateFailure
from rules import schema
from rules.context import Services
from rules.durations import format_duration, format_offset
from rules.location import SunEvent
from rules.schema import WEEKDAYS
from rules.templates import RuleTemplate, same_state, state_value, truthy
from rules.traces import ConditionStep

Scope = Mapping[str, Any]


class Condition(ABC):
    """One condition; `check()` records its result in the trace steps and returns it."""

    def __init__(self, model: schema.ConditionModel, path: str) -> None:
        self.path = path
        self.alias = model.alias
        self.enabled = model.enabled

    def check(self, env: Services, scope: Scope, steps: list[ConditionStep]) -> bool:
        """Evaluate, record, return the result (false on an error, with the error recorded)."""
        if not self.enabled:
            return True
        step = ConditionStep(self.path, self.alias or self.describe(), False)
        steps.append(step)
        try:
            step.result, step.seen = self.evaluate(env, scope, steps)
        except (TemplateFailure, ValueError, TypeError) as exc:
            step.error = str(exc)
        return step.result

    @abstractmethod
    def evaluate(self, env: Services, scope: Scope, steps: list[ConditionStep]) -> tuple[bool, dict[str, Any]]:
        """The result and what was looked at."""

    @abstractmethod
    def describe(self) -> str:
        """A short description for traces."""


def all_hold(conditions: Sequence[Condition], env: Services, scope: Scope, steps: list[ConditionStep]) -> bool:
    """Whether every condition holds (stops at the first that does not, as people expect)."""
    return all(condition.check(env, scope, steps) for condition in conditions)


def attribute_or_value(state: State | None, attribute: str | None) -> Any:
    """The attribute if one is named, else the state value ('unavailable' / 'unknown' included)."""
    if attribute is None:
        return state_value(state)
    return None if state is None else state.attributes.get(attribute)


def number(value: Any) -> float | None:
    """A number from a state value, or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def numeric_value(env: Services, state: State | None, attribute: str | None, template: RuleTemplate | None) -> Any:
    """The value a numeric trigger or condition compares: attribute, template result or state."""
    value = attribute_or_value(state, attribute)
    if template is None:
        return value
    view = {**env.helpers.globals, "value": value, "state": state_value(state)}
    return template.render_value(view)


def in_range(value: float | None, above: float | None, below: float | None) -> bool:
    """Whether a number is strictly above `above` and below `below` (None: no limit)."""
    if value is None:
        return False
    return (above is None or value > above) and (below is None or value < below)


def window(now: float, start: float | None, end: float | None) -> bool:
    """Whether `now` is in [start, end); a start later than the end means the window wraps around."""
    if start is not None and end is not None and start > end:
        return now >= start or now < end
    return (start is None or now >= start) and (end is None or now < end)


class StateCondition(Condition):
    """`condition: state` — entities are in a state (for at least `for:`)."""

    def __init__(self, model: schema.StateConditionModel, path: str) -> None:
        super().__init__(model, path)
        self.model = model

    def evaluate(self, env: Services, scope: Scope, steps: list[ConditionStep]) -> tuple[bool, dict[str, Any]]:
        """Check each entity; all (or any, with `match: any`) must be in the state."""
        seen: dict[str, Any] = {}
        results = []
        for entity_id in self.model.entity_id:
            state = env.hub.store.get(entity_id)
            value = attribute_or_value(state, self.model.attribute)
            ok = any(same_state(value, wanted) for wanted in self.model.state)
            seen[entity_id] = value
            if ok and self.model.for_ is not None and state is not None:
                held = env.time() - state.last_changed
                seen[f"{entity_id} for"] = format_duration(held)
                ok = held >= self.model.for_
            results.append(ok)
        return (all(results) if self.model.match == "all" else any(results)), seen

    def describe(self) -> str:
        """e.g. `state binary_sensor.rain = off for 3 h`."""
        wanted = " or ".join(str(s) for s in self.model.state)
        held = f" for {format_duration(self.model.for_)}" if self.model.for_ else ""
        attr = f" [{self.model.attribute}]" if self.model.attribute else ""
        return f"state {', '.join(self.model.entity_id)}{attr} = {wanted}{held}"


class NumericStateCondition(Condition):
    """`condition: numeric_state` — numbers are above / below limits."""

    def __init__(self, model: schema.NumericStateConditionModel, path: str) -> None:
        super().__init__(model, path)
        self.model = model

    def evaluate(self, env: Services, scope: Scope, steps: list[ConditionStep]) -> tuple[bool, dict[str, Any]]:
        """Every entity's number must be in the range."""
        seen: dict[str, Any] = {}
        ok = True
        for entity_id in self.model.entity_id:
            state = env.hub.store.get(entity_id)
            value = numeric_value(env, state, self.model.attribute, self.model.value_template)
            seen[entity_id] = value
            ok = ok and in_range(number(value), self.model.above, self.model.below)
        return ok, seen

    def describe(self) -> str:
        """e.g. `numeric sensor.power above 50`."""
        return f"numeric {', '.join(self.model.entity_id)}{_limits(self.model.above, self.model.below)}"


def _limits(above: float | None, below: float | None) -> str:
    return (f" above {above:g}" if above is not None else "") + (f" below {below:g}" if below is not None else "")


class TimeCondition(Condition):
    """`condition: time` — a window of the day (crossing midnight works) and / or weekdays."""

    def __init__(self, model: schema.TimeConditionModel, path: str) -> None:
        super().__init__(model, path)
        self.model = model

    def evaluate(self, env: Services, scope: Scope, steps: list[ConditionStep]) -> tuple[bool, dict[str, Any]]:
        """Compare the local time of day and weekday."""
        now = env.location.local(env.time())
        of_day = now.hour * 3600 + now.minute * 60 + now.second
        ok = window(of_day, _seconds(self.model.after), _seconds(self.model.before))
        if self.model.weekday is not None:
            ok = ok and now.weekday() in self.model.weekday
        return ok, {"now": now.strftime("%a %H:%M:%S")}

    def describe(self) -> str:
        """e.g. `time 05:00–09:00 on mon, tue`."""
        text = "time"
        if self.model.after or self.model.before:
            text += f" {_hhmm(self.model.after) or '00:00'}–{_hhmm(self.model.before) or '24:00'}"
        if self.model.weekday is not None:
            text += " on " + ", ".join(WEEKDAYS[d] for d in sorted(self.model.weekday))
        return text


def _seconds(value: time | None) -> float | None:
    return None if value is None else value.hour * 3600 + value.minute * 60 + value.second


def _hhmm(value: time | None) -> str:
    return "" if value is None else value.strftime("%H:%M" if not value.second else "%H:%M:%S")


class WeekdayCondition(Condition):
    """`condition: weekday` — today is one of the days."""

    def __init__(self, model: schema.WeekdayConditionModel, path: str) -> None:
        super().__init__(model, path)
        self.days = model.weekday

    def evaluate(self, env: Services, scope: Scope, steps: list[ConditionStep]) -> tuple[bool, dict[str, Any]]:
        """Compare the local weekday."""
        today = env.location.local(env.time()).weekday()
        return today in self.days, {"today": WEEKDAYS[today]}

    def describe(self) -> str:
        """e.g. `weekday mon, tue`."""
        return "weekday " + ", ".join(WEEKDAYS[d] for d in sorted(self.days))


class SunCondition(Condition):
    """`condition: sun` — before / after sunrise or sunset; after sunset and before sunrise is the night."""

    def __init__(self, model: schema.SunConditionModel, path: str) -> None:
        super().__init__(model, path)
        self.model = model

    def evaluate(self, env: Services, scope: Scope, steps: list[ConditionStep]) -> tuple[bool, dict[str, Any]]:
        """Compare now with today's sun events."""
        now = env.time()
        day = env.location.local(now).date()
        start = end = None
        seen: dict[str, Any] = {"now": env.location.local(now).strftime("%H:%M")}
        if self.model.after is not None:
            start = self._event(env, self.model.after, day, self.model.after_offset, seen)
        if self.model.before is not None:
            end = self._event(env, self.model.before, day, self.model.before_offset, seen)
        return window(now, start, end), seen

    @staticmethod
    def _event(env: Services, event: SunEvent, day: Any, offset: float, seen: dict[str, Any]) -> float:
        found = env.location.sun(event, day)
        if found is None:
            raise ValueError(f"there is no {event} today at this location")
        seen[event] = env.location.local(found + offset).strftime("%H:%M")
        return found + offset

    def describe(self) -> str:
        """e.g. `sun after sunset before sunrise`."""
        parts = ["sun"]
        if self.model.after:
            parts.append(f"after {self.model.after}{format_offset(self.model.after_offset)}")
        if self.model.before:
            parts.append(f"before {self.model.before}{format_offset(self.model.before_offset)}")
        return " ".join(parts)


class TemplateCondition(Condition):
    """`condition: template` — the template renders true."""

    def __init__(self, model: schema.TemplateConditionModel, path: str) -> None:
        super().__init__(model, path)
        self.template = model.value_template

    def evaluate(self, env: Services, scope: Scope, steps: list[ConditionStep]) -> tuple[bool, dict[str, Any]]:
        """Render and judge the result."""
        result, value = truthy(self.template, scope)
        return result, {"rendered": value}

    def describe(self) -> str:
        """The template itself."""
        return f"template {self.template.source}"


class TriggerCondition(Condition):
    """`condition: trigger` — the run was started by one of these trigger ids."""

    def __init__(self, model: schema.TriggerConditionModel, path: str) -> None:
        super().__init__(model, path)
        self.ids = model.id

    def evaluate(self, env: Services, scope: Scope, steps: list[ConditionStep]) -> tuple[bool, dict[str, Any]]:
        """Compare the trigger's id."""
        fired = str(scope.get("trigger", {}).get("id"))
        return fired in self.ids, {"trigger id": fired}

    def describe(self) -> str:
        """e.g. `trigger id dry`."""
        return f"trigger id {' or '.join(self.ids)}"


class LogicCondition(Condition):
    """`and` / `or` / `not` over nested conditions (`not`: none of them holds)."""

    def __init__(self, model: schema.LogicConditionModel, path: str, children: Sequence[Condition]) -> None:
        super().__init__(model, path)
        self.operator = model.condition
        self.children = tuple(children)

    def evaluate(self, env: Services, scope: Scope, steps: list[ConditionStep]) -> tuple[bool, dict[str, Any]]:
        """Combine the children's results."""
        if self.operator == "and":
            return all_hold(self.children, env, scope, steps), {}
        found = any(child.check(env, scope, steps) for child in self.children)
        return (found if self.operator == "or" else not found), {}

    def describe(self) -> str:
        """`and` / `or` / `not`."""
        return self.operator
