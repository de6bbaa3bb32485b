"""Configuration errors: exact wording, file:line:col, every problem at once, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.registry import config_models, load_registry
from hub.config import Config, load_config
from hub.errors import ConfigError
from tests.conftest import write

MODELS = config_models(load_registry())


def load(path: Path) -> Config:
    return load_config(path, MODELS)


def messages(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path)
    return [str(issue) for issue in caught.value.issues]


def test_example_config_is_valid() -> None:
    config = load(Path(__file__).parent.parent / "config.example.yaml")
    assert [d.name for d in config.devices] == ["workshop"]
    assert config.settings.mqtt.base_topic == "hausmeister"


def test_typo_in_entity_key_names_line_column_and_suggests(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        """devices:
  - type: mqtt
    name: workshop
    entities:
      - id: switch.compressor
        comand_topic: cmnd/compressor/POWER
""",
    )
    assert messages(path) == [f"{path}:6:9: unknown key 'comand_topic' — did you mean 'command_topic'?"]


def test_every_error_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        """hub:
  name: Test
mqtt:
  port: abc
  hots: localhost
devices:
  - type: mqtt
    name: workshop
    entities:
      - id: sensor.power
        state_topic: tele/x/SENSOR
        qos: 5
  - type: tasmotta
    name: plug
  - type: mqtt
    name: Bad Name
    entities: []
""",
    )
    assert messages(path) == [
        f"{path}:4:9: 'port' must be a whole number, not 'abc'",
        f"{path}:5:3: unknown key 'hots' — did you mean 'host'?",
        f"{path}:12:14: 'qos' must be one of 0, 1 or 2, not 5",
        f"{path}:13:11: unknown device type 'tasmotta' (known types: {', '.join(sorted(MODELS))})"
        if "tasmota" not in MODELS
        else f"{path}:13:11: unknown device type 'tasmotta' — did you mean 'tasmota'?",
        f"{path}:16:11: 'name': 'Bad Name' is not a valid device name: use lower-case letters, digits and '_'",
        f"{path}:17:15: 'entities' needs at least 1 entry",
    ]


def test_missing_key_and_whole_entry_checks(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        """devices:
  - type: mqtt
    entities:
      - id: switch.pump
        state_topic: stat/pump/POWER
      - id: lamp.kitchen
        state_topic: x
""",
    )
    assert messages(path) == [
        f"{path}:2:5: 'name' is missing",
        f"{path}:4:9: a switch needs a command_topic",
        f"{path}:6:13: 'id': unknown entity kind 'lamp' (known kinds: binary_sensor, button, lawn_mower, light, "
        "number, select, sensor, switch, valve)",
    ]


def test_duplicate_entities_and_device_names(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        """devices:
  - type: mqtt
    name: a
    entities:
      - {id: sensor.t, state_topic: x}
  - type: mqtt
    name: a
    entities:
      - {id: sensor.t, state_topic: y}
""",
    )
    assert messages(path) == [
        f"{path}:7:11: there is already a device named 'a'",
        f"{path}:9:14: the entity 'sensor.t' is defined twice",
    ]


def test_yaml_syntax_error_has_position(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "mqtt:\n  host: [unclosed\n  port: 1883\n")
    (message,) = messages(path)
    assert message.startswith(f"{path}:3:7: YAML syntax error:")


def test_template_that_does_not_compile_is_a_config_error(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        """devices:
  - type: mqtt
    name: a
    entities:
      - id: sensor.t
        state_topic: x
        value_template: "{{ value_json.temperature | round(1) }"
""",
    )
    (message,) = messages(path)
    assert message.startswith(f"{path}:7:25: 'value_template': template does not compile:")


def test_secret_is_read_from_secrets_yaml(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", "mqtt_password: s3cret\n")
    path = write(tmp_path / "c.yaml", "mqtt:\n  username: hm\n  password: !secret mqtt_password\n")
    config = load(path)
    assert config.settings.mqtt.password is not None
    assert config.settings.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config.settings.mqtt)


def test_missing_secret_names_the_line(tmp_path: Path) -> None:
    write(tmp_path / "secrets.yaml", "other: x\n")
    path = write(tmp_path / "c.yaml", "mqtt:\n  password: !secret mqtt_password\n")
    assert messages(path) == [f"{path}:2:13: !secret mqtt_password: 'mqtt_password' is not defined in secrets.yaml"]


def test_relative_paths_are_taken_from_the_config_folder(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "hub:\n  data_dir: store\nrules:\n  directory: my_rules\n")
    config = load(path)
    assert config.data_dir == (tmp_path / "store").resolve()
    assert config.rules_dir == (tmp_path / "my_rules").resolve()
