"""Actions that act on the world: entity commands, MQTT publishes, notifications, log lines, and
running or switching other rules. Flow control (delay, wait, choose, if, repeat, stop) is in
`rules.flow`.

Entity commands are validated against the entity's kind when the rule is loaded and wait for the
device to confirm when they run, so a trace says "confirmed after 0.4 s", not "sent".
"""

from __future__ import annotations

import asyncio
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hub.entity import KINDS
from hub.errors import CommandError, HubError, RuleError
from hub.events import Notification
from rules import schema
from rules.durations import format_duration, parse_duration
from rules.templates import Value

if TYPE_CHECKING:
    from rules.run import Path, Run

log = logging.getLogger("rules.log")

Scope = dict[str, Any]


class Action(ABC):
    """One action of a rule; `run()` returns a short result for the trace or raises.

    `waits` is true for actions that may wait (a delay, a wait, a command awaiting its device):
    a run started eagerly moves to its own task before such an action (see `rules.eager`).
    """

    waits = False

    def __init__(self, model: schema.ActionModel, path: str) -> None:
        self.path = path
        self.alias = model.alias
        self.enabled = model.enabled
        self.continue_on_error = model.continue_on_error

    @abstractmethod
    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Carry the action out."""

    @abstractmethod
    def describe(self) -> str:
        """A short description for traces."""


def command_params(action_name: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Check a command's data against its kind at load time (durations in words become seconds)."""
    kind, _, command = action_name.partition(".")
    spec = KINDS[kind].actions[command]
    params: dict[str, Any] = {}
    for name, value in data.items():
        param = spec.params.get(name)
        if param is None:
            raise schema.SpecError(_unknown_param(command, name, list(spec.params)), "data", name, key=True)
        params[name] = _param_value(name, value, param.type)
    for name, param in spec.params.items():
        if param.required and name not in params:
            raise schema.SpecError(f"'{command}' needs '{name}' in its data", "data")
    return params


def _unknown_param(command: str, name: str, allowed: list[str]) -> str:
    from hub.validation import suggest

    hint = suggest(name, allowed)
    if hint:
        return f"unknown parameter '{name}' — did you mean '{hint}'?"
    return f"'{command}' takes no parameter '{name}' (parameters: {', '.join(allowed) or 'none'})"


def _param_value(name: str, value: Any, wanted: type) -> Any:
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return value  # checked when it runs
    if wanted is float and isinstance(value, str):
        try:
            return parse_duration(value) if name == "duration" else float(value)
        except ValueError as exc:
            raise schema.SpecError(f"'{name}': {exc}", "data", name) from None
    if wanted is float and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise schema.SpecError(f"'{name}' must be a number, not {value!r}", "data", name)
    if wanted is str and not isinstance(value, str):
        raise schema.SpecError(f"'{name}' must be text, not {value!r}", "data", name)
    return value


class EntityCommand(Action):
    """`action: <kind>.<command>` on one entity or a list; waits for each device to confirm."""

    waits = True

    def __init__(self, model: schema.CallModel, path: str, entity_ids: Sequence[str], data: Value) -> None:
        super().__init__(model, path)
        self.kind, _, self.command = model.action.partition(".")
        self.entity_ids = tuple(entity_ids)
        self.data = data
        self._float_params = {n for n, p in KINDS[self.kind].actions[self.command].params.items() if p.type is float}

    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Send the command to every entity (at once) and wait for their confirmations."""
        params = self._params(scope)
        started = run.env.time()
        if len(self.entity_ids) == 1:
            await self._one(run, self.entity_ids[0], params)
            return f"confirmed after {format_duration(run.env.time() - started)}"
        results = await asyncio.gather(*(self._one(run, e, params) for e in self.entity_ids), return_exceptions=True)
        failures = [f"{e}: {r}" for e, r in zip(self.entity_ids, results, strict=True) if isinstance(r, BaseException)]
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, HubError):
                raise result
        if failures:
            raise CommandError("; ".join(failures))
        return f"confirmed after {format_duration(run.env.time() - started)}"

    async def _one(self, run: Run, entity_id: str, params: dict[str, Any]) -> None:
        run.env.guard.touched_entity(entity_id, run.effect_chain)
        await run.env.hub.command(entity_id, self.command, source=f"rule:{run.owner.id}", **params)

    def _params(self, scope: Scope) -> dict[str, Any]:
        params: dict[str, Any] = self.data.render(scope)
        for name in self._float_params & params.keys():
            if isinstance(params[name], str):
                try:
                    params[name] = parse_duration(params[name])
                except ValueError as exc:
                    raise RuleError(f"'{name}': {exc}") from None
        return params

    def describe(self) -> str:
        """e.g. `valve.open valve.bed1_zone {'duration': 900.0}`."""
        data = f" {self.data.source}" if self.data.source else ""
        return f"{self.kind}.{self.command} {', '.join(self.entity_ids)}{data}"


def payload_text(value: Any) -> str:
    """A payload as text: mappings and lists as JSON, the rest as written."""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), default=str)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Publish(Action):
    """`action: mqtt.publish` — topic and payload templated; queued for the broker at once."""

    def __init__(self, model: schema.CallModel, path: str, data: schema.PublishData, topic: Value, payload: Value):
        super().__init__(model, path)
        self.topic = topic
        self.payload = payload
        # A mapping payload becomes JSON whose templated values keep their types (numbers stay numbers).
        self._as_text = not isinstance(payload.source, dict | list)
        self.qos = data.qos
        self.retain = data.retain

    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Render, queue, note the effect for loop protection."""
        topic = str(self.topic.render(scope, text=True))
        if not topic or "+" in topic or "#" in topic:
            raise RuleError(f"cannot publish to '{topic}': a topic must not be empty or contain + or #")
        payload = payload_text(self.payload.render(scope, text=self._as_text))
        run.env.outbox.put(topic, payload, self.qos, self.retain)
        run.env.guard.touched_topic(topic, run.effect_chain)
        return f"sent to {topic}: {payload[:80]}"

    def describe(self) -> str:
        """e.g. `mqtt.publish bench/action/0`."""
        return f"mqtt.publish {self.topic.source}"


class Notify(Action):
    """`action: notify` — a message for people: shown in the panel and published on `<base>/notify`."""

    def __init__(self, model: schema.CallModel, path: str, title: Value, message: Value) -> None:
        super().__init__(model, path)
        self.title = title
        self.message = message

    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Publish the notification on the bus and, if connected, on MQTT."""
        rule_id = run.owner.id
        title = str(self.title.render(scope, text=True)) or rule_id
        message = str(self.message.render(scope, text=True))
        run.env.hub.bus.publish(Notification(run.env.time(), title, message, source=f"rule:{rule_id}"))
        body = json.dumps({"title": title, "message": message, "rule": rule_id}, ensure_ascii=False)
        try:
            run.env.outbox.put(run.env.notify_topic, body, 1, False)
        except RuleError as exc:
            return f"shown in the panel; not sent on MQTT: {exc}"
        return f"{title}: {message}"

    def describe(self) -> str:
        """`notify`."""
        return "notify"


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class Log(Action):
    """`action: log` — a line in the hub's log."""

    def __init__(self, model: schema.CallModel, path: str, data: schema.LogData, message: Value) -> None:
        super().__init__(model, path)
        self.message = message
        self.level = _LEVELS[data.level]

    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Render and log."""
        message = str(self.message.render(scope, text=True))
        log.log(self.level, "Rule '%s': %s", run.owner.id, message)
        return message

    def describe(self) -> str:
        """`log`."""
        return "log"


class RunRule(Action):
    """`action: rule.run` — start other rules (their mode applies; conditions skipped unless asked)."""

    def __init__(self, model: schema.CallModel, path: str, rule_ids: Sequence[str], data: schema.RunRuleData):
        super().__init__(model, path)
        self.rule_ids = tuple(rule_ids)
        self.skip_conditions = data.skip_conditions

    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Start each rule; say what came of it."""
        trigger = {"id": "rule.run", "platform": "rule", "by": run.owner.id, "by_run": run.id}
        results = [
            f"{rule_id}: {run.env.control.run_rule(rule_id, trigger, run.effect_chain, self.skip_conditions)}"
            for rule_id in self.rule_ids
        ]
        return "; ".join(results)

    def describe(self) -> str:
        """e.g. `rule.run water_bed1`."""
        return f"rule.run {', '.join(self.rule_ids)}"


class SwitchRule(Action):
    """`action: rule.turn_on` / `rule.turn_off` — enable or disable rules (kept across restarts)."""

    def __init__(self, model: schema.CallModel, path: str, rule_ids: Sequence[str]) -> None:
        super().__init__(model, path)
        self.rule_ids = tuple(rule_ids)
        self.enable = model.action == "rule.turn_on"

    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Switch each rule."""
        verb = "turned on" if self.enable else "turned off"
        for rule_id in self.rule_ids:
            run.env.control.set_enabled(rule_id, self.enable, f"{verb} by rule '{run.owner.id}'")
        return f"{verb}: {', '.join(self.rule_ids)}"

    def describe(self) -> str:
        """e.g. `rule.turn_off water_bed1`."""
        return f"rule.{'turn_on' if self.enable else 'turn_off'} {', '.join(self.rule_ids)}"
