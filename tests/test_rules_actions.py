"""Every action type, with what a user sees: commands sent, messages published, traces."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.rulelab import RuleLab


def rule(actions: str, *, extra: str = "") -> str:
    body = "\n".join("    " + line for line in actions.strip().splitlines())
    return f"""
- id: r
  triggers:
    - {{trigger: state, entity_id: button.go}}
  actions:
{body}
{extra}
"""


async def press(lab: RuleLab) -> None:
    state = lab.hub.store.get("button.go")
    await lab.change("button.go", (state.value or 0) + 1 if state else 1)


async def test_entity_command_on_several_entities_with_templated_data(tmp_path: Path) -> None:
    rules = rule("""
- action: valve.open
  target:
    entity_id: [valve.zone1, valve.zone2]
  data:
    duration: "{{ states('sensor.minutes') | int * 60 }}"
- action: valve.close
  entity_id: valve.zone3
- action: valve.open
  target: {entity_id: valve.zone3}
  data: {duration: 2min}
""")
    states = {"valve.zone1": "closed", "valve.zone2": "closed", "valve.zone3": "open", "sensor.minutes": 5}
    async with RuleLab(tmp_path, rules, states=states) as lab:
        await press(lab)
        commands = lab.effects("command")
        assert [(c.target, c.data) for c in commands] == [
            ("valve.open valve.zone1", {"duration": 300}),
            ("valve.open valve.zone2", {"duration": 300}),
            ("valve.close valve.zone3", {}),
            ("valve.open valve.zone3", {"duration": 120.0}),
        ]
        assert lab.last("r").outcome == "ran"
        assert all(step.result and "confirmed" in step.result for step in lab.last("r").actions)


async def test_a_failing_command_ends_the_run_unless_continue_on_error(tmp_path: Path) -> None:
    rules = rule("""
- action: switch.turn_on
  target: {entity_id: switch.offline}
  continue_on_error: true
- action: switch.turn_on
  target: {entity_id: switch.offline}
- action: switch.turn_on
  target: {entity_id: switch.pump}
""")
    async with RuleLab(tmp_path, rules, states={"switch.pump": "off"}) as lab:
        lab.set("switch.offline", "off", available=False)
        await press(lab)
        trace = lab.last("r")
        assert trace.outcome == "failed"
        assert "switch.offline" in (trace.message or "") and "unavailable" in (trace.message or "")
        assert [a.error is not None for a in trace.actions] == [True, True]
        assert trace.actions[0].result == "error ignored (continue_on_error)"
        assert lab.commands() == []


async def test_mqtt_publish_with_templated_topic_and_json_payload(tmp_path: Path) -> None:
    rules = rule("""
- action: mqtt.publish
  data:
    topic: "garden/{{ trigger.entity_id }}"
    payload: {value: "{{ trigger.to_state.state }}", unit: W}
    retain: true
""")
    async with RuleLab(tmp_path, rules) as lab:
        await press(lab)
        assert lab.published() == [("garden/button.go", '{"value":1,"unit":"W"}')]


async def test_delay_fixed_and_templated(tmp_path: Path) -> None:
    rules = rule("""
- action: switch.turn_on
  target: {entity_id: switch.pump}
- delay: 00:10:00
- delay: "{{ states('sensor.extra') }} min"
- action: switch.turn_off
  target: {entity_id: switch.pump}
""")
    async with RuleLab(tmp_path, rules, states={"switch.pump": "off", "sensor.extra": 5}) as lab:
        await press(lab)
        await lab.advance(899)
        assert lab.commands() == ["switch.turn_on switch.pump"]
        await lab.advance(1)
        assert lab.commands() == ["switch.turn_on switch.pump", "switch.turn_off switch.pump"]
        assert [a.result for a in lab.last("r").actions][1:3] == ["waited 10 min", "waited 5 min"]


async def test_wait_template_completes_on_a_state_change_or_times_out(tmp_path: Path) -> None:
    rules = rule(
        """
- wait_template: "{{ is_state('valve.zone1', 'closed') }}"
  timeout: 10min
- action: log
  data: {message: "completed={{ wait.completed }}"}
- wait_template: "{{ is_state('valve.zone1', 'open') }}"
  timeout: 1min
  continue_on_timeout: false
- action: log
  data: {message: never}
""",
        extra="  mode: parallel",
    )
    async with RuleLab(tmp_path, rules, states={"valve.zone1": "open"}) as lab:
        await press(lab)
        await lab.advance(120)
        await lab.change("valve.zone1", "closed")
        await lab.advance(60)
        trace = lab.last("r")
        assert trace.outcome == "stopped" and "timed out" in (trace.message or "")
        assert [a.result for a in trace.actions][:2] == ["became true after 2 min", "completed=True"]
        assert len(trace.actions) == 3


async def test_wait_for_trigger(tmp_path: Path) -> None:
    rules = rule("""
- wait_for_trigger:
    - {trigger: state, entity_id: binary_sensor.door, to: "on", id: door}
    - {trigger: mqtt, topic: doorbell, id: bell}
  timeout: 1h
- action: log
  data: {message: "{{ wait.trigger.id }}"}
""")
    async with RuleLab(tmp_path, rules, states={"binary_sensor.door": "off"}) as lab:
        await press(lab)
        await lab.advance(30)
        await lab.mqtt("doorbell", "ding")
        assert lab.last("r").actions[-1].result == "bell"
        await lab.change("binary_sensor.door", "on")  # the wait is over: nothing more happens
        assert len(lab.traces("r")) == 1


async def test_choose_and_if_then_else(tmp_path: Path) -> None:
    rules = rule("""
- choose:
    - conditions: [{condition: numeric_state, entity_id: sensor.level, above: 80}]
      sequence: [{action: log, data: {message: high}}]
    - conditions: "{{ states('sensor.level') | int > 40 }}"
      sequence: [{action: log, data: {message: middle}}]
  default:
    - {action: log, data: {message: low}}
- if:
    - {condition: state, entity_id: switch.pump, state: "on"}
  then: [{action: log, data: {message: pump on}}]
  else: [{action: log, data: {message: pump off}}]
""")
    async with RuleLab(tmp_path, rules, states={"sensor.level": 90, "switch.pump": "off"}) as lab:
        results = []
        for level in (90, 50, 10):
            await lab.change("sensor.level", level)
            await press(lab)
            results.append([a.result for a in lab.last("r").actions])
        assert results == [
            ["option 0", "high", "else", "pump off"],
            ["option 1", "middle", "else", "pump off"],
            ["default", "low", "else", "pump off"],
        ]


async def test_repeat_count_while_until_and_for_each(tmp_path: Path) -> None:
    rules = rule("""
- repeat:
    count: 3
    sequence: [{action: log, data: {message: "count {{ repeat.index }}{{ ' last' if repeat.last }}"}}]
- repeat:
    for_each: [zone1, zone2]
    sequence:
      - action: valve.open
        target: {entity_id: "valve.zone1"}
      - {action: log, data: {message: "item {{ repeat.item }}"}}
- repeat:
    while: "{{ repeat.index <= 2 }}"
    sequence: [{action: log, data: {message: "while {{ repeat.index }}"}}]
- repeat:
    until: "{{ repeat.index >= 2 }}"
    sequence:
      - delay: 1min
      - {action: log, data: {message: "until {{ repeat.index }}"}}
""")
    async with RuleLab(tmp_path, rules, states={"valve.zone1": "closed"}) as lab:
        await press(lab)
        await lab.advance(120)
        logs = [a.result for a in lab.last("r").actions if a.what == "log"]
        assert logs == [
            "count 1",
            "count 2",
            "count 3 last",
            "item zone1",
            "item zone2",
            "while 1",
            "while 2",
            "until 1",
            "until 2",
        ]
        assert [a.result for a in lab.last("r").actions if a.what == "repeat"] == [
            "3 times",
            "2 times",
            "2 times",
            "2 times",
        ]


async def test_run_another_rule_and_turn_rules_off_and_on(tmp_path: Path) -> None:
    rules = rule(
        """
- action: rule.run
  target: {rule_id: helper}
- action: rule.turn_off
  target: {rule_id: helper}
""",
        extra="""
- id: helper
  triggers: [{trigger: state, entity_id: button.helper}]
  conditions: [{condition: state, entity_id: switch.pump, state: "on"}]
  actions: [{action: log, data: {message: "helper by {{ trigger.get('by', 'state') }}"}}]
- id: switcher
  triggers: [{trigger: state, entity_id: button.back}]
  actions: [{action: rule.turn_on, target: {rule_id: helper}}]
""",
    )
    async with RuleLab(tmp_path, rules, states={"switch.pump": "off"}) as lab:
        await press(lab)
        assert lab.last("helper").actions[0].result == "helper by r"  # conditions skipped
        await lab.change("button.helper", 1)
        assert len(lab.traces("helper")) == 1  # it is off now
        await lab.restart()
        assert lab.engine and not lab.engine.rules["helper"].enabled  # still off after a restart
        await lab.change("button.back", 1)
        await lab.change("switch.pump", "on")
        await lab.change("button.helper", 2)
        assert lab.last("helper").outcome == "ran"


async def test_log_and_notify(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rules = rule("""
- action: log
  data: {message: "level is {{ states('sensor.level') }}", level: warning}
- action: notify
  data: {title: Tank, message: "level {{ states('sensor.level') }} %"}
""")
    published: list[tuple[str, bytes]] = []
    async with RuleLab(tmp_path, rules, states={"sensor.level": 12}) as lab:
        await lab.hub.mqtt.subscribe("hausmeister/notify", lambda m: published.append((m.topic, m.payload)))
        with caplog.at_level(logging.WARNING, logger="rules.log"):
            await press(lab)
        assert "Rule 'r': level is 12" in caplog.text
        assert [(e.target, e.data["message"]) for e in lab.effects("notify")] == [("Tank", "level 12 %")]
        assert published == [("hausmeister/notify", b'{"title": "Tank", "message": "level 12 %", "rule": "r"}')]


async def test_stop_ends_the_run_as_stopped_or_failed(tmp_path: Path) -> None:
    rules = rule("""
- if: "{{ states('sensor.level') | int > 5 }}"
  then: [{stop: nothing to do}]
- stop: the tank is empty
  error: true
- action: log
  data: {message: never}
""")
    async with RuleLab(tmp_path, rules, states={"sensor.level": 10}) as lab:
        await press(lab)
        assert (lab.last("r").outcome, lab.last("r").message) == ("stopped", "nothing to do")
        await lab.change("sensor.level", 0)
        await press(lab)
        assert (lab.last("r").outcome, lab.last("r").message) == ("failed", "the tank is empty")


async def test_template_error_is_a_clear_error_in_the_trace(tmp_path: Path) -> None:
    rules = rule(
        """
- action: mqtt.publish
  data: {topic: out, payload: "{{ trigger.payload_json.value }}"}
""",
        extra="""
- id: other
  triggers: [{trigger: state, entity_id: button.go}]
  actions: [{action: log, data: {message: fine}}]
""",
    )
    async with RuleLab(tmp_path, rules) as lab:
        await press(lab)
        trace = lab.last("r")
        assert trace.outcome == "failed"
        assert trace.message and "template failed" in trace.message and "payload_json" in trace.message
        assert lab.last("other").outcome == "ran"  # the other rule was not disturbed
