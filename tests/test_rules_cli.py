"""`hausmeister rules test | list | trace` and `hausmeister check`, run as the user runs them."""

from __future__ import annotations

import subprocess
import sys
from importlib.resources import files
from pathlib import Path

from devices.registry import config_models, load_registry
from hub.config import DeviceConfig, load_config
from rules.check import check_rules
from tests.conftest import write
from tests.rulelab import RuleLab

CONFIG = """
hub: {time_zone: Europe/Berlin, data_dir: data}
mqtt: {port: 1}
rules: {directory: rules}
devices:
  - type: mqtt
    name: pumps
    entities:
      - {id: switch.pump, command_topic: pump/set, state_topic: pump/state}
      - {id: sensor.level, state_topic: tank/level}
"""


def hausmeister(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_shipped_example_scenarios_pass() -> None:
    examples = Path(str(files("rules").joinpath("examples")))
    done = hausmeister("rules", "test", examples)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "13 scenarios: 13 passed, 0 failed" in done.stdout
    assert "PASS  garden.test.yaml: a restart during the 10 minutes still waters on time" in done.stdout


def test_a_failing_scenario_is_reported_with_the_trace(tmp_path: Path) -> None:
    write(
        tmp_path / "pump.yaml",
        """
- id: refill
  triggers: [{trigger: numeric_state, entity_id: sensor.level, below: 20}]
  actions: [{action: switch.turn_on, target: {entity_id: switch.pump}}]
""",
    )
    write(
        tmp_path / "pump.test.yaml",
        """
hub: {time_zone: Europe/Berlin}
scenarios:
  - name: a low tank starts the pump
    start: "2026-05-11 08:00"
    states: {sensor.level: 50, switch.pump: "off"}
    steps:
      - at: "09:00"
        state: {sensor.level: 15}
        expect: [{command: switch.turn_on, entity_id: switch.pump}]
  - name: a wrong expectation
    start: "2026-05-11 08:00"
    states: {sensor.level: 50, switch.pump: "off"}
    steps:
      - at: "09:00"
        state: {sensor.level: 15}
        expect: []
""",
    )
    done = hausmeister("rules", "test", tmp_path)
    assert done.returncode == 1
    assert "PASS  pump.test.yaml: a low tank starts the pump" in done.stdout
    assert "FAIL  pump.test.yaml: a wrong expectation" in done.stdout
    assert "step 1 (2026-05-11 09:00:00): did not expect command switch.turn_on switch.pump" in done.stdout
    assert "trigger    0 (numeric_state): sensor.level 50 → 15" in done.stdout
    assert "2 scenarios: 1 passed, 1 failed" in done.stdout


def test_check_validates_rules_against_the_configuration(tmp_path: Path) -> None:
    config = write(tmp_path / "hausmeister.yaml", CONFIG)
    (tmp_path / "rules").mkdir()
    write(
        tmp_path / "rules" / "tank.yaml",
        """
- id: refill
  triggers: [{trigger: numeric_state, entity_id: sensor.levle, below: 20}]
  actions:
    - action: switch.turn_on
      target: {entity_id: switch.pump}
    - action: switch.turn_on
      target: {entity_id: switch.garden_light}
    - action: rule.run
      target: {rule_id: refil}
""",
    )
    done = hausmeister("check", "-c", config)
    assert done.returncode == 1
    rules_file = tmp_path / "rules" / "tank.yaml"
    assert f"{rules_file}:3:50: unknown entity 'sensor.levle' — did you mean 'sensor.level'?" in done.stderr
    assert f"{rules_file}:8:27: no device declares the entity 'switch.garden_light'" in done.stderr
    assert f"{rules_file}:10:25: there is no rule 'refil' — did you mean 'refill'?" in done.stderr
    write(
        rules_file,
        "- id: refill\n  triggers: [{trigger: hub}]\n  actions: [{action: switch.turn_on, entity_id: switch.pump}]\n",
    )
    done = hausmeister("check", "-c", config)
    assert done.returncode == 0, done.stderr
    assert "1 rule in 1 file, valid" in done.stdout


class FinderConfig(DeviceConfig):
    """A device that finds its entities at run time (like MQTT discovery): it declares none."""


def test_entities_a_discovering_device_may_bring_are_warnings(tmp_path: Path) -> None:
    config_path = write(tmp_path / "hausmeister.yaml", CONFIG + "  - {type: finder, name: zigbee}\n")
    (tmp_path / "rules").mkdir()
    write(
        tmp_path / "rules" / "tank.yaml",
        """
- id: refill
  triggers: [{trigger: state, entity_id: binary_sensor.leak}]
  actions: [{action: switch.turn_off, target: {entity_id: switch.pump}}]
""",
    )
    config = load_config(config_path, {**config_models(load_registry()), "finder": FinderConfig})
    report = check_rules(config)
    assert report.errors == []
    (warning,) = report.warnings
    assert warning.line == 3 and "binary_sensor.leak" in warning.message and "zigbee" in warning.message


async def test_list_and_trace_show_what_the_rules_did(tmp_path: Path) -> None:
    config = write(tmp_path / "hausmeister.yaml", CONFIG)
    rules = """
- id: refill
  alias: Refill the tank
  triggers: [{trigger: numeric_state, entity_id: sensor.level, below: 20}]
  conditions: [{condition: state, entity_id: switch.pump, state: "off"}]
  actions: [{action: switch.turn_on, target: {entity_id: switch.pump}}]
- id: quiet
  enabled: false
  triggers: [{trigger: hub}]
  actions: [{action: log, data: {message: hi}}]
"""
    async with RuleLab(tmp_path, rules, states={"sensor.level": 50, "switch.pump": "off"}) as lab:
        await lab.change("sensor.level", 15)
    listing = hausmeister("rules", "list", "-c", config)
    assert listing.returncode == 0, listing.stderr
    assert "Rules in" in listing.stdout and "2 in 1 file" in listing.stdout
    lines = {line.split()[0]: line for line in listing.stdout.splitlines()[1:] if line.strip()}
    assert "on" in lines["refill"].split() and "Refill the tank" in lines["refill"] and "ran" in lines["refill"]
    assert "off" in lines["quiet"].split() and "never triggered" in lines["quiet"]
    trace = hausmeister("rules", "trace", "refill", "-c", config)
    assert trace.returncode == 0, trace.stderr
    assert "Run 1 · Mon 2026-05-11 12:00:00 · ran" in trace.stdout
    assert "trigger    0 (numeric_state): sensor.level 50 → 15" in trace.stdout
    assert "condition  ✓ state switch.pump = off  [switch.pump: off]" in trace.stdout
    assert "action     switch.turn_on switch.pump → confirmed after 0 s" in trace.stdout
    assert hausmeister("rules", "trace", "nothing", "-c", config).returncode == 1
