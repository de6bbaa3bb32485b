"""Rule scenarios: test rules before they water the garden at 3 a.m.

A scenario file (`*.test.yaml`) gives initial states, then a timeline of steps — states that
change, MQTT messages, a hub restart — at given times, and what the rules must have done by then
(commands, publishes, notifications, or nothing). It runs against the real rule engine with a
fake clock and no devices (`rules.sandbox`); a failing scenario is reported with the traces of
the rules that ran.

    hub: {time_zone: Europe/Berlin, latitude: 52.5, longitude: 13.4}
    rules: [garden.yaml]                  # default: every rule file beside this one
    scenarios:
      - name: dry soil in the morning waters bed 1
        start: "2026-05-11 05:00"
        states: {sensor.bed1_soil_moisture: 45, binary_sensor.rain: "off"}
        steps:
          - at: "05:30"
            state: {sensor.bed1_soil_moisture: 28}
            expect: []                    # nothing yet
          - after: 10min
            expect:
              - command: valve.open
                entity_id: valve.bed1_zone
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Self

from pydantic import Field, model_validator

from hub.clock import FakeClock
from hub.config import Config, HubConfig, HubSection, RulesSection
from hub.errors import ConfigError
from hub.events import HubStarted
from hub.validation import validate_model
from hub.yamlfile import load_file
from rules.engine import RuleEngine
from rules.loader import rule_files
from rules.location import Location
from rules.sandbox import Effect, Message, SandboxHub
from rules.schema import Duration, EntityIds, Model
from rules.templates import same_state
from rules.traces import Trace

SETTLE_TURNS = 20  # event-loop turns after each step, so tasks started by it reach their first wait
_WHEN = re.compile(r"^(\d{4}-\d{2}-\d{2}[ T])?\d{1,2}:\d{2}(:\d{2})?$")


def _when_text(value: str | None) -> str | None:
    if value is not None and not _WHEN.match(value.strip()):
        raise ValueError(f"'{value}' is not a time: write HH:MM, HH:MM:SS or YYYY-MM-DD HH:MM")
    return value


# --- the file ---------------------------------------------------------------------------------
class StateModel(Model):
    """A state with attributes or availability (a plain value is enough otherwise)."""

    state: Any = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    available: bool = True


class MqttModel(Model):
    """A message the scenario sends."""

    topic: str
    payload: Any = ""
    retain: bool = False


class ExpectModel(Model):
    """Something the rules must have done: a command, a publish or a notification."""

    command: str | None = None
    entity_id: EntityIds | None = None
    data: dict[str, Any] | None = None
    publish: str | None = None
    payload: Any = None
    notify: str | None = None
    title: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Self:
        if sum(x is not None for x in (self.command, self.publish, self.notify)) != 1:
            raise ValueError("an expectation names one of 'command', 'publish' or 'notify'")
        return self


class StepModel(Model):
    """One moment of the timeline."""

    at: str | None = None
    after: Duration | None = None
    state: dict[str, Any] | None = None
    mqtt: MqttModel | list[MqttModel] | None = None
    hub: str | None = None
    restart: bool | Duration | None = None
    expect: list[ExpectModel] | None = None

    @model_validator(mode="after")
    def _when(self) -> Self:
        _when_text(self.at)
        if self.at is not None and self.after is not None:
            raise ValueError("give 'at' or 'after', not both")
        if self.hub not in (None, "start"):
            raise ValueError("'hub' can only be 'start'")
        return self


class ScenarioModel(Model):
    """One scenario."""

    name: str
    start: str
    states: dict[str, Any] = Field(default_factory=dict)
    steps: list[StepModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _start(self) -> Self:
        if not (self.start and len(self.start.strip()) > 8 and _when_text(self.start)):
            raise ValueError(f"'start' must be a date and time like \"2026-05-11 05:00\", not {self.start!r}")
        return self


class ScenarioFileModel(Model):
    """A whole scenario file."""

    hub: HubSection = HubSection()  # time_zone, latitude, longitude, elevation
    rules: list[str] | str | None = None
    scenarios: list[ScenarioModel] = Field(min_length=1)


def scenario_files(path: Path) -> list[Path]:
    """A scenario file itself, or every `*.test.yaml` in a directory (and below)."""
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*.test.y*ml") if not any(part.startswith(".") for part in p.parts))


# --- results ----------------------------------------------------------------------------------
@dataclass
class ScenarioResult:
    """How one scenario went."""

    file: Path
    name: str
    location: Location
    failures: list[str] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True if every expectation held."""
        return not self.failures


# --- running ----------------------------------------------------------------------------------
async def run_file(path: Path, base: Config | None = None) -> list[ScenarioResult]:
    """Run every scenario of a file (`ConfigError` if the file itself is wrong)."""
    root = load_file(path)
    spec = validate_model(ScenarioFileModel, root, root=root, filename=str(path))
    files = _rules_of(path, spec)
    results = []
    for scenario in spec.scenarios:
        results.append(await run_scenario(path, scenario, files, _settings(spec.hub, base)))
    return results


def _rules_of(path: Path, spec: ScenarioFileModel) -> list[Path]:
    if spec.rules is None:
        return rule_files(path.parent)
    names = [spec.rules] if isinstance(spec.rules, str) else spec.rules
    found = [(path.parent / name).resolve() for name in names]
    missing = [str(p) for p in found if not p.is_file()]
    if missing:
        raise ConfigError.single(str(path), 1, 1, f"rules: no such file: {', '.join(missing)}")
    return found


def _settings(place: HubSection, base: Config | None) -> HubConfig:
    """The configuration's settings (if given), with the place the scenario file names."""
    settings = base.settings.model_copy(deep=True) if base is not None else HubConfig()
    settings.hub = settings.hub.model_copy(update=place.model_dump(exclude_unset=True, exclude={"name", "data_dir"}))
    return settings


async def run_scenario(path: Path, scenario: ScenarioModel, files: list[Path], settings: HubConfig) -> ScenarioResult:
    """Run one scenario in a fresh sandbox and report what failed."""
    with tempfile.TemporaryDirectory(prefix="hausmeister-scenario-") as tmp:
        hub_section = HubSection(**{**settings.hub.model_dump(), "data_dir": Path(tmp)})
        rules_section = RulesSection(**{**settings.rules.model_dump(), "directory": path.parent})
        config = Config(settings.model_copy(update={"hub": hub_section, "rules": rules_section}))
        location = Location.from_settings(hub_section)
        result = ScenarioResult(path, scenario.name, location)
        clock = FakeClock(_parse_when(scenario.start, location, None))
        async with SandboxHub(config, clock) as hub:
            for entity_id, value in scenario.states.items():
                _set(hub, entity_id, value)
            runner = _Timeline(hub, config, files, location, result)
            await runner.run(scenario.steps)
    return result


class _Timeline:
    """Walks the steps of a scenario, restarting the engine when a step says so."""

    def __init__(self, hub: SandboxHub, config: Config, files: list[Path], location: Location, result: ScenarioResult):
        self.hub = hub
        self.config = config
        self.files = files
        self.location = location
        self.result = result
        self.checked = 0

    async def run(self, steps: Sequence[StepModel]) -> None:
        engine = await self._start()
        try:
            for number, step in enumerate(steps, 1):
                engine = await self._step(engine, number, step)
        finally:
            await engine.__aexit__(None, None, None)
        self.result.traces = [t for rule in sorted(engine.rules) for t in engine.traces(rule)]

    async def _start(self) -> RuleEngine:
        for entity in _referenced(self.files, self.location):
            if self.hub.store.spec(entity) is None:
                self.hub.entity(entity, None)
        engine = await RuleEngine(self.hub, files=self.files).__aenter__()
        for key, error in engine.errors.items():
            self.result.failures.append(
                f"the rules in {key} did not load:\n" + "\n".join(f"  {i}" for i in error.issues)
            )
        await _settle(self.hub.clock)
        self.hub.bus.publish(HubStarted(self.hub.clock.time()))
        await _settle(self.hub.clock)
        return engine

    async def _step(self, engine: RuleEngine, number: int, step: StepModel) -> RuleEngine:
        clock = self.hub.clock
        if step.at is not None or step.after is not None:
            when = (
                clock.time() + step.after
                if step.after is not None
                else _parse_when(step.at or "", self.location, clock.time())
            )
            await clock.set_time(when)
            await _settle(clock)
        if step.restart is not None and step.restart is not False:
            await engine.__aexit__(None, None, None)
            await clock.advance(0.0 if step.restart is True else float(step.restart))
            engine = await self._start()
        for entity_id, value in (step.state or {}).items():
            _set(self.hub, entity_id, value)
            await _settle(clock)
        for message in [step.mqtt] if isinstance(step.mqtt, MqttModel) else step.mqtt or []:
            payload = message.payload if isinstance(message.payload, str) else json.dumps(message.payload)
            self.hub.mqtt.deliver(Message(message.topic, payload.encode(), 0, message.retain))
            await _settle(clock)
        if step.hub == "start":
            self.hub.bus.publish(HubStarted(clock.time()))
            await _settle(clock)
        if step.expect is not None:
            self._check(number, step, self.hub.effects[self.checked :])
            self.checked = len(self.hub.effects)
        return engine

    def _check(self, number: int, step: StepModel, effects: list[Effect]) -> None:
        when = self.location.local(self.hub.clock.time()).strftime("%Y-%m-%d %H:%M:%S")
        left = list(effects)
        missing = False
        for expected in step.expect or []:
            found = next((e for e in left if _fits(expected, e)), None)
            if found is None:
                missing = True
                self.result.failures.append(f"step {number} ({when}): expected {_show(expected)}, but {_did(effects)}")
            else:
                left.remove(found)
        if not missing:  # (a missing expectation already listed what the rules did)
            for extra in left:
                self.result.failures.append(f"step {number} ({when}): did not expect {extra}")


def _did(effects: list[Effect]) -> str:
    return "the rules did: " + "; ".join(str(e) for e in effects) if effects else "nothing happened"


def _show(expected: ExpectModel) -> str:
    if expected.command is not None:
        entities = f" {', '.join(expected.entity_id)}" if expected.entity_id else ""
        return f"command {expected.command}{entities}" + (f" {expected.data}" if expected.data else "")
    if expected.publish is not None:
        return f"publish {expected.publish}" + (f" {expected.payload!r}" if expected.payload is not None else "")
    return f"notify containing {expected.notify!r}"


def _fits(expected: ExpectModel, effect: Effect) -> bool:
    if expected.command is not None:
        command, _, entity = effect.target.partition(" ")
        return (
            effect.kind == "command"
            and command == expected.command
            and (expected.entity_id is None or entity in expected.entity_id)
            and all(same_state(effect.data.get(k), v) for k, v in (expected.data or {}).items())
        )
    if expected.publish is not None:
        return (
            effect.kind == "publish" and effect.target == expected.publish and _same_payload(expected.payload, effect)
        )
    return (
        effect.kind == "notify"
        and str(expected.notify) in str(effect.data.get("message"))
        and (expected.title is None or expected.title == effect.target)
    )


def _same_payload(expected: Any, effect: Effect) -> bool:
    if expected is None:
        return True
    actual = str(effect.data.get("payload"))
    if isinstance(expected, str):
        return actual == expected
    try:
        return bool(json.loads(actual) == expected)
    except ValueError:
        return False


def _set(hub: SandboxHub, entity_id: str, value: Any) -> None:
    if isinstance(value, Mapping):
        spec = StateModel.model_validate(value)
        hub.entity(entity_id, spec.state, spec.attributes, available=spec.available)
    else:
        hub.entity(entity_id, value)


def _referenced(files: list[Path], location: Location) -> set[str]:
    from rules.loader import load_rule_file

    found: set[str] = set()
    for path in files:
        try:
            found.update(ref.entity_id for ref in load_rule_file(path, location).entities)
        except ConfigError:
            continue  # reported when the engine loads it
    return found


def _parse_when(text: str, location: Location, after: float | None) -> float:
    """'2026-05-11 05:30' (local), or '05:30' — the next such time at or after `after`."""
    text = text.strip()  # the format was checked with the file
    if len(text) > 8:
        return datetime.fromisoformat(text).replace(tzinfo=location.zone).timestamp()
    parts = [int(p) for p in text.split(":")]
    base = location.local(after if after is not None else 0.0)
    when = base.replace(hour=parts[0], minute=parts[1], second=parts[2] if len(parts) > 2 else 0, microsecond=0)
    if after is not None and when.timestamp() < after:
        when += timedelta(days=1)
    return when.timestamp()


async def _settle(clock: FakeClock) -> None:
    await clock.advance(0)
    for _ in range(SETTLE_TURNS):
        await asyncio.sleep(0)
