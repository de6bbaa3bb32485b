"""Builds the parts of a rule — triggers, conditions, actions — from YAML, with positioned errors.

Each part is validated on its own against its model (chosen by `trigger:`, `condition:` or the
action's key), so an error deep in an `if` inside a `repeat` still names its line and column.
Every problem is collected; the loader rejects the file if there is any. On the way, the builder
notes which entities and rules the parts refer to, for `hausmeister check`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from hub.entity import KINDS
from hub.errors import ConfigError, Issue
from hub.validation import suggest, validate_model
from hub.yamlfile import Loc, position
from rules import actions as act
from rules import conditions as cond
from rules import flow, schedules, schema
from rules import triggers as trig
from rules.location import Location
from rules.templates import Value, compile_template, is_template, plain

M = TypeVar("M", bound=BaseModel)

TRIGGER_CLASSES: dict[str, Callable[..., trig.Trigger]] = {
    "state": trig.StateTrigger,
    "numeric_state": trig.NumericStateTrigger,
    "availability": trig.AvailabilityTrigger,
    "mqtt": trig.MqttTrigger,
    "hub": trig.HubTrigger,
    "time": schedules.TimeTrigger,
    "cron": schedules.CronTrigger,
    "interval": schedules.IntervalTrigger,
    "sun": schedules.SunTrigger,
}
CONDITION_CLASSES: dict[str, Callable[..., cond.Condition]] = {
    "state": cond.StateCondition,
    "numeric_state": cond.NumericStateCondition,
    "time": cond.TimeCondition,
    "weekday": cond.WeekdayCondition,
    "sun": cond.SunCondition,
    "template": cond.TemplateCondition,
    "trigger": cond.TriggerCondition,
}
BUILTIN_CALLS = ("mqtt.publish", "notify", "log", "rule.run", "rule.turn_on", "rule.turn_off")
_COMMON_ACTION_KEYS = ("alias", "enabled", "continue_on_error")


def all_call_names() -> list[str]:
    """Every `action:` name: the built-in calls and `<kind>.<command>` for every kind."""
    return [*BUILTIN_CALLS, *(f"{kind}.{command}" for kind, spec in KINDS.items() for command in spec.actions)]


def fingerprint(data: Any) -> str:
    """A short hash of YAML data: equal for equal content, whatever the comments and layout."""
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EntityRef:
    """A rule's reference to an entity, where it stands, and the command it is given (if any)."""

    entity_id: str
    file: str
    line: int
    column: int
    command: str | None = None


@dataclass(frozen=True)
class RuleRef:
    """A reference to another rule (`rule.run`, `rule.turn_off`)."""

    rule_id: str
    file: str
    line: int
    column: int


class Builder:
    """Builds the parts of the rules of one file, collecting issues and references."""

    def __init__(self, root: Any, filename: str, location: Location | None) -> None:
        self.root = root
        self.filename = filename
        self.location = location
        self.issues: list[Issue] = []
        self.entities: list[EntityRef] = []
        self.rule_refs: list[RuleRef] = []
        self.rule_loc: Loc = ()

    # --- plumbing -------------------------------------------------------------------------------
    def issue(self, loc: Loc, message: str, *, key: bool = False) -> None:
        """Note a problem at a position of the file."""
        line, column = position(self.root, loc, key=key)
        self.issues.append(Issue(self.filename, line, column, message))

    def model(self, model: type[M], raw: Any, loc: Loc) -> M | None:
        """Validate raw data against a model; None (and issues noted) if it does not fit."""
        try:
            return validate_model(model, raw, root=self.root, filename=self.filename, prefix=loc)
        except ConfigError as exc:
            self.issues.extend(exc.issues)
            return None

    def path(self, loc: Loc) -> str:
        """The position of a part inside its rule, as traces show it: `actions/1/then/0`."""
        return "/".join(str(p) for p in loc[len(self.rule_loc) :])

    def items(self, raw: Any, loc: Loc, what: str) -> list[tuple[Any, Loc]]:
        """A list of parts (a single mapping counts as a list of one), each with its position."""
        if raw is None:
            return []
        if isinstance(raw, list):
            return [(item, (*loc, i)) for i, item in enumerate(raw)]
        if isinstance(raw, Mapping | str):
            return [(raw, loc)]
        self.issue(loc, f"{what} must be a list")
        return []

    def _kind(self, raw: Any, loc: Loc, keys: tuple[str, ...], table: Mapping[str, Any], what: str) -> str | None:
        if not isinstance(raw, Mapping):
            self.issue(loc, f"a {what} must be a mapping of keys to values, e.g. '{keys[0]}: ...'")
            return None
        key = next((k for k in keys if k in raw), None)
        if key is None:
            self.issue(loc, f"a {what} needs '{keys[0]}:' (one of: {', '.join(table)})")
            return None
        name = raw[key]
        if name not in table:
            hint = suggest(str(name), table)
            tail = f" — did you mean '{hint}'?" if hint else f" (known: {', '.join(table)})"
            self.issue((*loc, key), f"unknown {what} type '{name}'{tail}")
            return None
        return str(name)

    def _places(self, raw: Mapping[str, Any], loc: Loc, field: str) -> list[tuple[str, int, int]]:
        """Each value of a field that holds one name or a list of names, with its line and column."""
        value = raw.get(field)
        items = (
            [(v, (*loc, field, i)) for i, v in enumerate(value)]
            if isinstance(value, list)
            else [(value, (*loc, field))]
        )
        return [(str(item).strip(), *position(self.root, at)) for item, at in items]

    def _refer(self, raw: Mapping[str, Any], loc: Loc, field: str, command: str | None = None) -> None:
        for entity_id, line, column in self._places(raw, loc, field):
            self.entities.append(EntityRef(entity_id, self.filename, line, column, command))

    def value(self, data: Any, loc: Loc) -> Value | None:
        """Compile the templates inside `data`, each error at its own position."""
        ok = True

        def walk(item: Any, at: Loc) -> Any:
            nonlocal ok
            if isinstance(item, str) and is_template(item):
                try:
                    return compile_template(item)
                except ValueError as exc:
                    self.issue(at, str(exc))
                    ok = False
                    return item
            if isinstance(item, Mapping):
                return {k: walk(v, (*at, k)) for k, v in item.items()}
            if isinstance(item, list):
                return [walk(v, (*at, i)) for i, v in enumerate(item)]
            return item

        compiled = walk(data, loc)
        return Value(compiled) if ok else None

    def _sun_needs_position(self, loc: Loc) -> bool:
        if self.location is not None and not self.location.knows_position:
            self.issue(
                loc, "sunrise and sunset need 'latitude' and 'longitude' in the hub: section of the configuration"
            )
            return False
        return True

    # --- triggers -------------------------------------------------------------------------------
    def triggers(self, raw: Any, loc: Loc) -> list[trig.Trigger]:
        """Build a list of triggers."""
        built = [self.trigger(item, at, index) for index, (item, at) in enumerate(self.items(raw, loc, "triggers"))]
        return [t for t in built if t is not None]

    def trigger(self, raw: Any, loc: Loc, index: int) -> trig.Trigger | None:
        """Build one trigger (`trigger:`, or Home Assistant's older `platform:`)."""
        kind = self._kind(raw, loc, ("trigger", "platform"), schema.TRIGGERS, "trigger")
        if kind is None:
            return None
        data = dict(raw)
        if "platform" in data and "trigger" not in data:
            data["trigger"] = data.pop("platform")
        model = self.model(schema.TRIGGERS[kind], data, loc)
        if model is None or (kind == "sun" and not self._sun_needs_position(loc)):
            return None
        if "entity_id" in raw:
            self._refer(raw, loc, "entity_id")
        return TRIGGER_CLASSES[kind](model, index, self.path(loc), fingerprint(plain(raw)))

    # --- conditions -----------------------------------------------------------------------------
    def conditions(self, raw: Any, loc: Loc) -> list[cond.Condition]:
        """Build a list of conditions."""
        built = [self.condition(item, at) for item, at in self.items(raw, loc, "conditions")]
        return [c for c in built if c is not None]

    def condition(self, raw: Any, loc: Loc) -> cond.Condition | None:
        """Build one condition (a bare template string is a template condition)."""
        if isinstance(raw, str):
            try:
                raw = {"condition": "template", "value_template": compile_template(raw)}
            except ValueError as exc:
                self.issue(loc, str(exc))
                return None
        kind = self._kind(raw, loc, ("condition",), schema.CONDITIONS, "condition")
        if kind is None:
            return None
        model = self.model(schema.CONDITIONS[kind], raw, loc)
        if model is None or (kind == "sun" and not self._sun_needs_position(loc)):
            return None
        if "entity_id" in raw:
            self._refer(raw, loc, "entity_id")
        if isinstance(model, schema.LogicConditionModel):
            children = self.conditions(raw.get("conditions"), (*loc, "conditions"))
            if not children:
                self.issue(loc, f"'{kind}' needs a list of conditions under 'conditions:'")
            return cond.LogicCondition(model, self.path(loc), children)
        return CONDITION_CLASSES[kind](model, self.path(loc))

    # --- actions --------------------------------------------------------------------------------
    def actions(self, raw: Any, loc: Loc) -> list[act.Action]:
        """Build a list of actions."""
        built = [self.action(item, at) for item, at in self.items(raw, loc, "actions")]
        return [a for a in built if a is not None]

    def action(self, raw: Any, loc: Loc) -> act.Action | None:
        """Build one action, chosen by its key (`action:`, `delay:`, `if:`, ...)."""
        if not isinstance(raw, Mapping):
            self.issue(loc, "an action must be a mapping of keys to values, e.g. 'action: switch.turn_on'")
            return None
        key = next((k for k in raw if k in schema.ACTIONS), None)
        if key is None:
            self._no_action_key(raw, loc)
            return None
        model = self.model(schema.ACTIONS[key], raw, loc)
        if model is None:
            return None
        return self._build_action(model, raw, loc)

    def _no_action_key(self, raw: Mapping[str, Any], loc: Loc) -> None:
        others = [k for k in raw if k not in _COMMON_ACTION_KEYS]
        hint = suggest(str(others[0]), schema.ACTIONS) if others else None
        if hint:
            self.issue((*loc, others[0]), f"unknown key '{others[0]}' — did you mean '{hint}'?", key=True)
        else:
            self.issue(loc, f"an action needs one of the keys: {', '.join(schema.ACTIONS)}")

    def _build_action(self, model: schema.ActionModel, raw: Mapping[str, Any], loc: Loc) -> act.Action | None:
        path = self.path(loc)
        if isinstance(model, schema.CallModel):
            return self.call(model, raw, loc)
        if isinstance(model, schema.DelayModel):
            return flow.Delay(model, path)
        if isinstance(model, schema.WaitTemplateModel):
            return flow.WaitTemplate(model, path)
        if isinstance(model, schema.WaitTriggerModel):
            return flow.WaitTrigger(model, path, self.triggers(raw["wait_for_trigger"], (*loc, "wait_for_trigger")))
        if isinstance(model, schema.ChooseModel):
            return self._choose(model, raw, loc)
        if isinstance(model, schema.IfModel):
            return flow.If(
                model,
                path,
                self.conditions(raw["if"], (*loc, "if")),
                self.actions(raw.get("then"), (*loc, "then")),
                self.actions(raw.get("else"), (*loc, "else")),
            )
        if isinstance(model, schema.RepeatModel):
            return self._repeat(model, raw["repeat"], (*loc, "repeat"))
        assert isinstance(model, schema.StopModel)
        return flow.Stop(model, path)

    def _choose(self, model: schema.ChooseModel, raw: Mapping[str, Any], loc: Loc) -> act.Action:
        options = []
        for item, at in self.items(raw["choose"], (*loc, "choose"), "choose"):
            option = self.model(schema.OptionModel, item, at)
            if option is not None:
                options.append(
                    (
                        self.conditions(item["conditions"], (*at, "conditions")),
                        self.actions(item["sequence"], (*at, "sequence")),
                    )
                )
        return flow.Choose(model, self.path(loc), options, self.actions(raw.get("default"), (*loc, "default")))

    def _repeat(self, model: schema.RepeatModel, raw: Mapping[str, Any], loc: Loc) -> act.Action:
        while_ = self.conditions(raw["while"], (*loc, "while")) if "while" in raw else None
        until = self.conditions(raw["until"], (*loc, "until")) if "until" in raw else None
        items = self.value(raw["for_each"], (*loc, "for_each")) if isinstance(raw.get("for_each"), list) else None
        sequence = self.actions(raw["sequence"], (*loc, "sequence"))
        return flow.Repeat(model, self.path(loc[:-1]), sequence, (while_, until, items))

    # --- calls ----------------------------------------------------------------------------------
    def call(self, model: schema.CallModel, raw: Mapping[str, Any], loc: Loc) -> act.Action | None:
        """Build an `action:` call: a built-in one or an entity command."""
        name = model.action
        if name in BUILTIN_CALLS:
            return self._builtin(model, raw, loc)
        kind, _, command = name.partition(".")
        if kind not in KINDS or command not in KINDS[kind].actions:
            self._unknown_call(name, kind, command, (*loc, "action"))
            return None
        targets = self._targets(model, raw, loc, "entity_id")
        if not targets:
            return None
        for entity_id in targets:
            if entity_id.partition(".")[0] != kind:
                self.issue(loc, f"'{name}' works on {kind} entities; '{entity_id}' is a {entity_id.partition('.')[0]}")
                return None
        try:
            params = act.command_params(name, model.data)
        except schema.SpecError as exc:
            self.issue((*loc, *exc.at), str(exc), key=exc.key)
            return None
        data = self.value(params, (*loc, "data"))
        return act.EntityCommand(model, self.path(loc), targets, data) if data is not None else None

    def _unknown_call(self, name: str, kind: str, command: str, loc: Loc) -> None:
        if kind in KINDS:
            offered = list(KINDS[kind].actions)
            hint = suggest(command, offered)
            listing = ", ".join(offered) or "no commands at all"
            tail = f" — did you mean '{kind}.{hint}'?" if hint else f" (it offers: {listing})"
            self.issue(loc, f"a {kind} has no command '{command}'{tail}")
            return
        hint = suggest(name, all_call_names())
        self.issue(loc, f"unknown action '{name}'" + (f" — did you mean '{hint}'?" if hint else ""))

    def _targets(self, model: schema.CallModel, raw: Mapping[str, Any], loc: Loc, field: str) -> tuple[str, ...]:
        """What a call acts on (`target:`, or `entity_id:` beside `action:`), noted for `hausmeister check`."""
        in_target = model.target is not None and getattr(model.target, field) is not None
        found = getattr(model.target, field) if in_target else (model.entity_id if field == "entity_id" else None)
        if not found:
            self.issue(loc, f"'{model.action}' needs 'target: {{{field}: ...}}'")
            return ()
        holder, place = (raw["target"], (*loc, "target")) if in_target else (raw, loc)
        if field == "entity_id":
            self._refer(holder, place, field, model.action)
        else:
            self.rule_refs.extend(
                RuleRef(r, self.filename, line, col) for r, line, col in self._places(holder, place, field)
            )
        return tuple(found)

    def _builtin(self, model: schema.CallModel, raw: Mapping[str, Any], loc: Loc) -> act.Action | None:
        name, path, at = model.action, self.path(loc), (*loc, "data")
        if name == "mqtt.publish":
            data = self.model(schema.PublishData, model.data, at)
            topic = self.value(data.topic, (*at, "topic")) if data else None
            payload = self.value(data.payload, (*at, "payload")) if data else None
            return act.Publish(model, path, data, topic, payload) if data and topic and payload else None
        if name == "notify":
            notify = self.model(schema.NotifyData, model.data, at)
            title = self.value(notify.title or "", (*at, "title")) if notify else None
            message = self.value(notify.message, (*at, "message")) if notify else None
            return act.Notify(model, path, title, message) if title and message else None
        if name == "log":
            log_data = self.model(schema.LogData, model.data, at)
            message = self.value(log_data.message, (*at, "message")) if log_data else None
            return act.Log(model, path, log_data, message) if log_data and message else None
        rule_ids = self._targets(model, raw, loc, "rule_id")
        if not rule_ids:
            return None
        if name == "rule.run":
            run_data = self.model(schema.RunRuleData, model.data, at)
            return act.RunRule(model, path, rule_ids, run_data) if run_data else None
        return act.SwitchRule(model, path, rule_ids) if self.model(schema.EmptyData, model.data, at) else None
