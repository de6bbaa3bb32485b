"""Rule files that are wrong: every problem reported as file:line:col in plain words."""

from __future__ import annotations

import pytest

from hub.errors import ConfigError
from rules.loader import load_rule_text
from rules.location import Location
from tests.rulelab import BERLIN


def problems(text: str, location: Location | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_rule_text(text, "garden.yaml", location)
    return [str(issue) for issue in caught.value.issues]


def test_a_typo_in_a_key_says_what_was_meant_and_where() -> None:
    text = """
- id: water
  triggers:
    - trigger: numeric_state
      entitiy_id: sensor.moisture
      below: 30
  actions:
    - action: valve.open
      target: {entity_id: valve.bed}
"""
    assert (
        problems(text)
        == [
            "garden.yaml:5:7: unknown key 'entitiy_id' — did you mean 'entity_id'?",
            "garden.yaml:4:7: 'entity_id' is missing",
        ][::-1]
    )


def test_wrong_types_of_trigger_condition_and_action() -> None:
    text = """
- id: r
  triggers:
    - trigger: numeric
      entity_id: sensor.x
  conditions:
    - condition: sunset
  actions:
    - delai: 5min
"""
    assert problems(text) == [
        "garden.yaml:4:16: unknown trigger type 'numeric' — did you mean 'numeric_state'?",
        "garden.yaml:7:18: unknown condition type 'sunset' — did you mean 'sun'?",
        "garden.yaml:9:7: unknown key 'delai' — did you mean 'delay'?",
    ]


def test_bad_durations_times_and_templates() -> None:
    text = """
- id: r
  triggers:
    - {trigger: state, entity_id: switch.a, for: 10 minuten}
    - {trigger: time, at: "25:00"}
  conditions:
    - "{{ states('switch.a') == }}"
  actions:
    - delay: soon
"""
    found = problems(text)
    assert found[0].startswith("garden.yaml:4:50: 'for': '10 minuten' is not a duration")
    assert found[1].startswith("garden.yaml:5:27: 'at': '25:00' is not a time of day")
    assert found[2].startswith("garden.yaml:7:7: template does not compile: unexpected 'end of print statement'")
    assert found[3].startswith("garden.yaml:9:14: 'delay': 'soon' is not a duration")


def test_commands_are_checked_against_the_entity_kind() -> None:
    text = """
- id: r
  triggers: [{trigger: hub}]
  actions:
    - action: valve.opne
      target: {entity_id: valve.bed}
    - action: switch.open
      target: {entity_id: switch.pump}
    - action: valve.open
      target: {entity_id: switch.pump}
    - action: valve.open
      target: {entity_id: valve.bed}
      data: {duraton: 60}
    - action: valve.open
      target: {entity_id: valve.bed}
      data: {duration: a while}
    - action: valve.close
    - action: garden.water
"""
    assert problems(text) == [
        "garden.yaml:5:15: a valve has no command 'opne' — did you mean 'valve.open'?",
        "garden.yaml:7:15: a switch has no command 'open' (it offers: turn_on, turn_off, toggle)",
        "garden.yaml:9:7: 'valve.open' works on valve entities; 'switch.pump' is a switch",
        "garden.yaml:13:14: unknown parameter 'duraton' — did you mean 'duration'?",
        "garden.yaml:16:24: 'duration': 'a while' is not a duration: "
        'write seconds (90), "HH:MM:SS" ("00:10:00"), "10min", "2h", "30s" or {minutes: 10}',
        "garden.yaml:17:7: 'valve.close' needs 'target: {entity_id: ...}'",
        "garden.yaml:18:15: unknown action 'garden.water'",
    ]


def test_a_template_error_in_action_data_points_at_the_value() -> None:
    text = """
- id: r
  triggers: [{trigger: hub}]
  actions:
    - action: mqtt.publish
      data:
        topic: out
        payload: "{{ trigger.payload | nofilter }}"
"""
    (found,) = problems(text)
    assert found.startswith("garden.yaml:8:18: template does not compile: No filter named 'nofilter'")


def test_rule_level_problems() -> None:
    text = """
- id: Water Bed
  triggers: []
  actions: [{action: log, data: {message: hi}}]
- id: twice
  triggers: [{trigger: hub}]
  actions: [{action: log, data: {message: hi}}]
- id: twice
  trigger: [{trigger: hub}]
  action: [{action: log, data: {message: hi}}]
  mode: sometimes
"""
    assert problems(text) == [
        "garden.yaml:2:7: 'id': 'Water Bed' is not a valid rule id: use lower-case letters, digits and '_'",
        "garden.yaml:11:9: 'mode' must be one of 'single', 'restart', 'queued' or 'parallel', not 'sometimes'",
    ]
    text = text.replace("Water Bed", "water_bed").replace("mode: sometimes", "mode: queued")
    assert problems(text) == [
        "garden.yaml:3:13: a rule needs at least one trigger",
        "garden.yaml:8:7: the rule id 'twice' is used twice in this file (first at line 5)",
    ]


def test_sun_needs_a_location_and_yaml_errors_have_positions() -> None:
    text = """
- id: light
  triggers: [{trigger: sun, event: sunset}]
  actions: [{action: switch.turn_on, target: {entity_id: switch.light}}]
"""
    assert problems(text, Location(BERLIN)) == [
        "garden.yaml:3:14: sunrise and sunset need 'latitude' and 'longitude' in the hub: section of the configuration"
    ]
    assert load_rule_text(text, "garden.yaml", Location(BERLIN, 52.5, 13.4)).rules[0].id == "light"
    (found,) = problems("- id: x\n  triggers: [{trigger: hub}\n")
    assert found.startswith("garden.yaml:3:1: YAML syntax error")


def test_the_accepted_forms() -> None:
    text = """
rules:
  - id: legacy
    trigger:
      - platform: state
        entity_id: switch.a
    condition: "{{ true }}"
    action:
      - action: switch.turn_off
        entity_id: [switch.a, switch.b]
"""
    (rule,) = load_rule_text(text, "garden.yaml").rules
    assert (rule.id, len(rule.triggers), len(rule.conditions), len(rule.actions)) == ("legacy", 1, 1, 1)
    assert load_rule_text("# nothing yet\n", "empty.yaml").rules == ()
