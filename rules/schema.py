"""The rule language as pydantic models: one model per trigger, condition and action type.

Nested parts (the conditions of an `and`, the actions of an `if`) stay raw here; the loader
validates them one by one so every error keeps its own file position. Field types parse the
forms people write — durations, times of day, weekdays, entity ids, templates — with messages in
plain words.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal, Self

from croniter import croniter
from pydantic import AfterValidator, AliasChoices, BeforeValidator, ConfigDict, Field, model_validator

from hub.config import Strict
from hub.entity import EntityId
from rules.durations import parse_duration
from rules.templates import RuleTemplate, compile_template
from rules.topics import validate_filter

_RULE_ID = re.compile(r"^[a-z0-9_]+$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SpecError(ValueError):
    """A problem found after the models validated; `at` is the path below the part being loaded."""

    def __init__(self, message: str, *at: str | int, key: bool = False) -> None:
        super().__init__(message)
        self.at = at
        self.key = key  # the position of the key (an unknown name), not of its value


# --- field types ------------------------------------------------------------------------------
def _listify(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else [value]


def _entity_ids(value: Any) -> tuple[str, ...]:
    found = []
    for item in _listify(value):
        if not isinstance(item, str):
            raise ValueError(f"{item!r} is not an entity id: write it as kind.name, e.g. switch.pump")
        found.append(str(EntityId.parse(item.strip())))
    if not found:
        raise ValueError("name at least one entity")
    return tuple(dict.fromkeys(found))


def _scalars(value: Any) -> tuple[Any, ...]:
    items = _listify(value)
    for item in items:
        if isinstance(item, dict | list):
            raise ValueError("a state is a single value (or a list of values)")
    return tuple(items)


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in _listify(value))


def _time_of_day(value: Any) -> time:
    text = str(value).strip()
    parts = text.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        numbers = [int(p) for p in parts]
        return time(numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 0)
    except ValueError:
        raise ValueError(f"'{text}' is not a time of day: write it as HH:MM or HH:MM:SS, e.g. \"19:00\"") from None


def _times(value: Any) -> tuple[time, ...]:
    return tuple(_time_of_day(item) for item in _listify(value))


def _weekdays(value: Any) -> frozenset[int]:
    days = set()
    for item in _listify(value):
        name = str(item).strip().lower()[:3]
        if name not in WEEKDAYS:
            raise ValueError(f"'{item}' is not a weekday (use {', '.join(WEEKDAYS)})")
        days.add(WEEKDAYS.index(name))
    return frozenset(days)


def _template(value: Any) -> RuleTemplate:
    if isinstance(value, RuleTemplate):
        return value  # compiled already (a condition written as a bare template)
    if not isinstance(value, str):
        raise ValueError("a template must be text, e.g. \"{{ states('sensor.x') | float > 20 }}\"")
    return compile_template(value)


def _cron(value: Any) -> str:
    text = str(value).strip()
    if not croniter.is_valid(text):
        raise ValueError(f"'{text}' is not a cron expression (minute hour day month weekday, e.g. '0 19 * * 1-5')")
    return text


def _non_negative(seconds: float) -> float:
    if seconds < 0:
        raise ValueError("a duration here cannot be negative")
    return seconds


def _duration_or_template(value: Any) -> float | RuleTemplate:
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return compile_template(value)
    return _non_negative(parse_duration(value))


def _late(value: Any) -> str | float:
    if value in ("run", "skip"):
        return str(value)
    try:
        return _non_negative(parse_duration(value))
    except ValueError:
        raise ValueError(
            f'{value!r} is not a choice: write run, skip, or the most a run may be late, e.g. "00:30:00"'
        ) from None


def _rule_id(value: Any) -> str:
    text = str(value)
    if not _RULE_ID.match(text):
        raise ValueError(f"'{text}' is not a valid rule id: use lower-case letters, digits and '_'")
    return text


Duration = Annotated[float, BeforeValidator(parse_duration)]
Hold = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_non_negative)]
DelayValue = Annotated[float | RuleTemplate, BeforeValidator(_duration_or_template)]
EntityIds = Annotated[tuple[str, ...], BeforeValidator(_entity_ids)]
States = Annotated[tuple[Any, ...], BeforeValidator(_scalars)]
Texts = Annotated[tuple[str, ...], BeforeValidator(_texts)]
TimeOfDay = Annotated[time, BeforeValidator(_time_of_day)]
Times = Annotated[tuple[time, ...], BeforeValidator(_times)]
Weekdays = Annotated[frozenset[int], BeforeValidator(_weekdays)]
TemplateText = Annotated[RuleTemplate, BeforeValidator(_template)]
TopicFilter = Annotated[str, AfterValidator(validate_filter)]
CronText = Annotated[str, BeforeValidator(_cron)]
RuleId = Annotated[str, BeforeValidator(_rule_id)]
RuleIds = Annotated[tuple[str, ...], BeforeValidator(lambda v: tuple(_rule_id(i) for i in _listify(v)))]


class Model(Strict):
    """Base of the rule models: unknown keys are errors; compiled templates are allowed as values."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, arbitrary_types_allowed=True, frozen=True)


# --- the rule ---------------------------------------------------------------------------------
LatePolicy = Annotated[str | float, BeforeValidator(_late)]


class RuleModel(Model):
    """One rule: what starts it, what must hold, what it does, and how runs overlap."""

    id: RuleId
    alias: str | None = None
    description: str | None = None
    mode: Literal["single", "restart", "queued", "parallel"] = "single"
    max: int = Field(default=10, ge=1, le=1000)
    enabled: bool = True
    late: LatePolicy = "run"
    # Home Assistant's older singular keys are accepted too.
    triggers: Any = Field(validation_alias=AliasChoices("triggers", "trigger"))
    conditions: Any = Field(default=None, validation_alias=AliasChoices("conditions", "condition"))
    actions: Any = Field(validation_alias=AliasChoices("actions", "action"))


# --- triggers ---------------------------------------------------------------------------------
class TriggerModel(Model):
    """Common to every trigger: an optional id conditions and actions can test."""

    trigger: str
    id: str | None = None
    enabled: bool = True


class _ValueRange(Model):
    above: float | None = None
    below: float | None = None

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.above is None and self.below is None:
            raise ValueError("give 'above', 'below' or both")
        if self.above is not None and self.below is not None and self.above >= self.below:
            raise ValueError(f"no value is above {self.above:g} and below {self.below:g} at once")
        return self


class StateTriggerModel(TriggerModel):
    """An entity's state changes (from / to / not_from / not_to), optionally held `for:` a time."""

    trigger: Literal["state"]
    entity_id: EntityIds
    attribute: str | None = None
    from_: States | None = Field(default=None, alias="from")
    to: States | None = None
    not_from: States | None = None
    not_to: States | None = None
    for_: Hold | None = Field(default=None, alias="for")

    @model_validator(mode="after")
    def _exclusive(self) -> Self:
        if self.from_ is not None and self.not_from is not None:
            raise ValueError("give 'from' or 'not_from', not both")
        if self.to is not None and self.not_to is not None:
            raise ValueError("give 'to' or 'not_to', not both")
        return self


class NumericStateTriggerModel(TriggerModel, _ValueRange):
    """A number crosses into a range (above / below), optionally held `for:` a time."""

    trigger: Literal["numeric_state"]
    entity_id: EntityIds
    attribute: str | None = None
    value_template: TemplateText | None = None
    for_: Hold | None = Field(default=None, alias="for")


class AvailabilityTriggerModel(TriggerModel):
    """An entity's device becomes unavailable (or available again)."""

    trigger: Literal["availability"]
    entity_id: EntityIds
    to: Literal["available", "unavailable"]
    for_: Hold | None = Field(default=None, alias="for")


class MqttTriggerModel(TriggerModel):
    """A message on a topic (wildcards allowed), optionally only with a given payload."""

    trigger: Literal["mqtt"]
    topic: TopicFilter
    payload: str | None = None
    value_template: TemplateText | None = None
    qos: Literal[0, 1, 2] = 0


class TimeTriggerModel(TriggerModel):
    """A time of day (or several), optionally only on some weekdays."""

    trigger: Literal["time"]
    at: Times
    weekday: Weekdays | None = None


class CronTriggerModel(TriggerModel):
    """A cron expression in the hub's time zone."""

    trigger: Literal["cron"]
    expression: CronText


class IntervalTriggerModel(TriggerModel):
    """Every so often, at multiples of the interval."""

    trigger: Literal["interval"]
    every: Duration = Field(gt=0)


class SunTriggerModel(TriggerModel):
    """Sunrise or sunset, with an offset (negative: before)."""

    trigger: Literal["sun"]
    event: Literal["sunrise", "sunset"]
    offset: Duration = 0.0


class HubTriggerModel(TriggerModel):
    """The hub has started."""

    trigger: Literal["hub"]
    event: Literal["start"] = "start"


TRIGGERS: dict[str, type[TriggerModel]] = {
    "state": StateTriggerModel,
    "numeric_state": NumericStateTriggerModel,
    "availability": AvailabilityTriggerModel,
    "mqtt": MqttTriggerModel,
    "time": TimeTriggerModel,
    "cron": CronTriggerModel,
    "interval": IntervalTriggerModel,
    "sun": SunTriggerModel,
    "hub": HubTriggerModel,
}


# --- conditions -------------------------------------------------------------------------------
class ConditionModel(Model):
    """Common to every condition."""

    condition: str
    alias: str | None = None
    enabled: bool = True


class StateConditionModel(ConditionModel):
    """Entities are in a state (optionally for at least some time)."""

    condition: Literal["state"]
    entity_id: EntityIds
    state: States
    attribute: str | None = None
    for_: Hold | None = Field(default=None, alias="for")
    match: Literal["all", "any"] = "all"


class NumericStateConditionModel(ConditionModel, _ValueRange):
    """Numbers are above / below limits."""

    condition: Literal["numeric_state"]
    entity_id: EntityIds
    attribute: str | None = None
    value_template: TemplateText | None = None


class TimeConditionModel(ConditionModel):
    """The local time is in a window (which may cross midnight) and / or on given weekdays."""

    condition: Literal["time"]
    after: TimeOfDay | None = None
    before: TimeOfDay | None = None
    weekday: Weekdays | None = None

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.after is None and self.before is None and self.weekday is None:
            raise ValueError("give 'after', 'before', 'weekday' or a combination")
        return self


class WeekdayConditionModel(ConditionModel):
    """Today is one of the given weekdays."""

    condition: Literal["weekday"]
    weekday: Weekdays


class SunConditionModel(ConditionModel):
    """Before / after sunrise or sunset (after sunset and before sunrise means the night)."""

    condition: Literal["sun"]
    after: Literal["sunrise", "sunset"] | None = None
    before: Literal["sunrise", "sunset"] | None = None
    after_offset: Duration = 0.0
    before_offset: Duration = 0.0

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.after is None and self.before is None:
            raise ValueError("give 'after', 'before' or both")
        return self


class TemplateConditionModel(ConditionModel):
    """A template renders true."""

    condition: Literal["template"]
    value_template: TemplateText


class TriggerConditionModel(ConditionModel):
    """The run was started by the trigger with this id (or one of these)."""

    condition: Literal["trigger"]
    id: Texts


class LogicConditionModel(ConditionModel):
    """`and`, `or`, `not` over nested conditions."""

    condition: Literal["and", "or", "not"]
    conditions: Any


CONDITIONS: dict[str, type[ConditionModel]] = {
    "state": StateConditionModel,
    "numeric_state": NumericStateConditionModel,
    "time": TimeConditionModel,
    "weekday": WeekdayConditionModel,
    "sun": SunConditionModel,
    "template": TemplateConditionModel,
    "trigger": TriggerConditionModel,
    "and": LogicConditionModel,
    "or": LogicConditionModel,
    "not": LogicConditionModel,
}


# --- actions ----------------------------------------------------------------------------------
class ActionModel(Model):
    """Common to every action."""

    alias: str | None = None
    enabled: bool = True
    continue_on_error: bool = False


class TargetModel(Model):
    """What a call acts on."""

    entity_id: EntityIds | None = None
    rule_id: RuleIds | None = None


class CallModel(ActionModel):
    """`action: valve.open`, `mqtt.publish`, `rule.run`, `notify`, `log`, ..."""

    action: str
    target: TargetModel | None = None
    entity_id: EntityIds | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class DelayModel(ActionModel):
    """Wait some time."""

    delay: DelayValue


class WaitTemplateModel(ActionModel):
    """Wait until a template is true (with a timeout)."""

    wait_template: TemplateText
    timeout: Hold | None = None
    continue_on_timeout: bool = True


class WaitTriggerModel(ActionModel):
    """Wait until one of some triggers fires (with a timeout)."""

    wait_for_trigger: Any
    timeout: Hold | None = None
    continue_on_timeout: bool = True


class ChooseModel(ActionModel):
    """The first option whose conditions hold runs its sequence; else the default."""

    choose: Any
    default: Any = None


class OptionModel(Model):
    """One option of a `choose`."""

    alias: str | None = None
    conditions: Any
    sequence: Any


class IfModel(ActionModel):
    """If the conditions hold, `then`, otherwise `else`."""

    if_: Any = Field(alias="if")
    then: Any
    else_: Any = Field(default=None, alias="else")


class RepeatSpecModel(Model):
    """How often a `repeat` runs its sequence: count, while, until or for each item."""

    count: int | TemplateText | None = None
    while_: Any = Field(default=None, alias="while")
    until: Any = None
    for_each: list[Any] | TemplateText | None = None
    sequence: Any

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [k for k, v in (("count", self.count), ("while", self.while_), ("until", self.until)) if v is not None]
        given += ["for_each"] if self.for_each is not None else []
        if len(given) != 1:
            raise ValueError("a repeat needs exactly one of 'count', 'while', 'until' or 'for_each'")
        return self


class RepeatModel(ActionModel):
    """Run a sequence several times."""

    repeat: RepeatSpecModel


class StopModel(ActionModel):
    """End the run here (as an error if `error: true`)."""

    stop: str
    error: bool = False


ACTIONS: dict[str, type[ActionModel]] = {
    "action": CallModel,
    "delay": DelayModel,
    "wait_template": WaitTemplateModel,
    "wait_for_trigger": WaitTriggerModel,
    "choose": ChooseModel,
    "if": IfModel,
    "repeat": RepeatModel,
    "stop": StopModel,
}


# --- data of the built-in calls ---------------------------------------------------------------
class PublishData(Model):
    """`mqtt.publish` data."""

    topic: str
    payload: Any = ""
    qos: Literal[0, 1, 2] = 0
    retain: bool = False


class LogData(Model):
    """`log` data."""

    message: str
    level: Literal["debug", "info", "warning", "error"] = "info"


class NotifyData(Model):
    """`notify` data."""

    message: str
    title: str | None = None


class RunRuleData(Model):
    """`rule.run` data."""

    skip_conditions: bool = True


class EmptyData(Model):
    """Calls that take no data."""
