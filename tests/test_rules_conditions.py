"""Every condition type: what passes, what does not, and what the trace says it saw."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.rulelab import BERLIN, RuleLab


def rule(conditions: str) -> str:
    body = "\n".join("    " + line for line in conditions.strip().splitlines())
    return f"""
- id: r
  mode: parallel
  triggers:
    - {{trigger: state, entity_id: button.go, id: go}}
    - {{trigger: state, entity_id: button.other, id: other}}
  conditions:
{body}
  actions:
    - {{action: log, data: {{message: ran}}}}
"""


async def passes(lab: RuleLab, button: str = "button.go") -> bool:
    """Press a button; true if the rule ran (its conditions held)."""
    before = len(lab.traces("r"))
    state = lab.hub.store.get(button)
    await lab.change(button, (state.value or 0) + 1 if state else 1)
    assert len(lab.traces("r")) == before + 1
    return lab.last("r").outcome == "ran"


async def test_state_condition_with_for_and_match_any(tmp_path: Path) -> None:
    rules = rule("""
- condition: state
  entity_id: binary_sensor.rain
  state: "off"
  for: 3h
- condition: state
  entity_id: [switch.a, switch.b]
  state: ["on", idle]
  match: any
""")
    states = {"binary_sensor.rain": "off", "switch.a": "off", "switch.b": "off"}
    async with RuleLab(tmp_path, rules, states=states) as lab:
        await lab.change("switch.b", "on")
        assert not await passes(lab)  # off for less than 3 hours
        step = lab.last("r").conditions[0]
        assert step.result is False and step.seen["binary_sensor.rain"] == "off"
        await lab.advance(3 * 3600)
        assert await passes(lab)
        await lab.change("switch.b", "off")
        assert not await passes(lab)  # neither a nor b is on


async def test_numeric_state_condition(tmp_path: Path) -> None:
    rules = rule("""
- condition: numeric_state
  entity_id: sensor.power
  above: 50
  below: 3000
""")
    async with RuleLab(tmp_path, rules, states={"sensor.power": 10}) as lab:
        assert not await passes(lab)
        await lab.change("sensor.power", "800.5")  # numbers as text count too
        assert await passes(lab)
        assert lab.last("r").conditions[0].seen == {"sensor.power": "800.5"}
        await lab.change("sensor.power", available=False)
        assert not await passes(lab)


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [(21, 59, False), (22, 0, True), (23, 30, True), (3, 0, True), (5, 59, True), (6, 0, False), (12, 0, False)],
)
async def test_time_window_crossing_midnight(tmp_path: Path, hour: int, minute: int, expected: bool) -> None:
    rules = rule("""
- condition: time
  after: "22:00"
  before: "06:00"
""")
    start = datetime(2026, 5, 11, hour, minute, tzinfo=BERLIN)
    async with RuleLab(tmp_path, rules, start=start) as lab:
        assert await passes(lab) is expected


async def test_time_and_weekday_conditions(tmp_path: Path) -> None:
    rules = rule("""
- condition: time
  after: "08:00"
  weekday: [mon, tue, wed, thu, fri]
- condition: weekday
  weekday: [mon, sat]
""")
    async with RuleLab(tmp_path, rules) as lab:  # Monday 12:00
        assert await passes(lab)
        await lab.advance(86400)  # Tuesday
        assert not await passes(lab)
        assert lab.last("r").conditions[1].seen == {"today": "tue"}
        await lab.advance(4 * 86400)  # Saturday
        assert not await passes(lab)


async def test_sun_condition_night_crosses_midnight(tmp_path: Path) -> None:
    rules = rule("""
- condition: sun
  after: sunset
  before: sunrise
  before_offset: "-00:30:00"
""")
    start = datetime(2026, 6, 21, 21, 0, tzinfo=BERLIN)  # sunset 21:33, sunrise 04:43
    async with RuleLab(tmp_path, rules, start=start) as lab:
        assert not await passes(lab)
        await lab.at(21, 40)
        assert await passes(lab)
        await lab.at(4, 0, day=22)
        assert await passes(lab)
        await lab.at(4, 20, day=22)  # within 30 minutes of sunrise
        assert not await passes(lab)
        assert lab.last("r").conditions[0].seen["sunrise"] == "04:13"


async def test_template_condition_and_shorthand(tmp_path: Path) -> None:
    rules = rule("""
- condition: template
  value_template: "{{ states('sensor.level') | float(0) > 3 and is_state('switch.a', 'on') }}"
- "{{ state_attr('switch.a', 'mode') == 'auto' }}"
""")
    async with RuleLab(tmp_path, rules, states={"sensor.level": 5, "switch.a": "on"}) as lab:
        assert not await passes(lab)
        await lab.change("switch.a", "on", attributes={"mode": "auto"})
        assert await passes(lab)
        await lab.change("sensor.level", 2)
        assert not await passes(lab)
        assert lab.last("r").conditions[0].seen == {"rendered": False}


async def test_template_condition_error_is_false_with_the_reason(tmp_path: Path) -> None:
    rules = rule('- "{{ states.sensor.missing.state > 3 }}"')
    async with RuleLab(tmp_path, rules) as lab:
        assert not await passes(lab)
        step = lab.last("r").conditions[0]
        assert step.result is False and step.error and "template failed" in step.error


async def test_trigger_condition(tmp_path: Path) -> None:
    rules = rule("- {condition: trigger, id: go}")
    async with RuleLab(tmp_path, rules) as lab:
        assert await passes(lab, "button.go")
        assert not await passes(lab, "button.other")


async def test_and_or_not_nested(tmp_path: Path) -> None:
    rules = rule("""
- condition: or
  conditions:
    - condition: and
      conditions:
        - {condition: state, entity_id: switch.a, state: "on"}
        - {condition: state, entity_id: switch.b, state: "on"}
    - condition: not
      conditions:
        - {condition: state, entity_id: switch.c, state: "on"}
        - {condition: state, entity_id: switch.d, state: "on"}
""")
    async with RuleLab(
        tmp_path, rules, states={"switch.a": "on", "switch.b": "off", "switch.c": "on", "switch.d": "off"}
    ) as lab:
        assert not await passes(lab)  # not both a and b; c is on
        paths = [step.path for step in lab.last("r").conditions]
        assert paths[0] == "conditions/0" and "conditions/0/conditions/1" in paths
        await lab.change("switch.c", "off")
        assert await passes(lab)  # neither c nor d
        await lab.change("switch.d", "on")
        await lab.change("switch.b", "on")
        assert await passes(lab)  # a and b
