"""The benchmark's house: sensors, rules and the readings sent to them, shared by the hub's
configuration, the floor and the load generator so all three agree on topics and payloads.

- sensor k reports on `bench/sensor/<k>` as `{"seq": n, "value": v}`;
- sensors 0 … rules-1 each have a rule "value above 50 → publish `{"seq": n}` to `bench/action/<k>`";
- in the mixed load (W2, W4) one reading in five on a sensor with a rule is above 50, so with 200
  sensors and 100 rules about 10 % of readings fire a rule. Consecutive readings of one sensor always
  differ, so every reading is a state change the hub records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SENSOR_TOPIC = "bench/sensor/"
ACTION_TOPIC = "bench/action/"
FIRE_EVERY = 5  # on a sensor with a rule, one reading in FIRE_EVERY is above 50


@dataclass(frozen=True)
class Scenario:
    """How many sensors and rules, and the reading pattern over them."""

    sensors: int = 200
    rules: int = 100

    def mixed(self, n: int) -> tuple[int, bytes, bool]:
        """Reading number `n` of the mixed load: (sensor, payload, whether a rule fires)."""
        sensor, round_ = n % self.sensors, n // self.sensors
        fires = sensor < self.rules and round_ % FIRE_EVERY == 0
        value = 51 + round_ % 40 if fires else round_ % 50
        return sensor, b'{"seq":%d,"value":%d.5}' % (n, value), fires

    def firing(self, n: int) -> tuple[int, bytes]:
        """Reading number `n` of an all-firing load (W1, W3), round robin over the sensors with rules."""
        sensor, round_ = n % self.rules, n // self.rules
        return sensor, b'{"seq":%d,"value":%d.5}' % (n, 51 + round_ % 40)

    @property
    def fire_fraction(self) -> float:
        """The share of mixed readings that fire a rule."""
        return min(self.rules, self.sensors) / self.sensors / FIRE_EVERY


def topic(sensor: int) -> str:
    """The topic sensor `sensor` reports on."""
    return f"{SENSOR_TOPIC}{sensor}"


RULE = """\
- id: bench_{k}
  triggers:
    - trigger: mqtt
      topic: bench/sensor/{k}
  conditions:
    - condition: template
      value_template: "{{{{ trigger.payload_json.value > 50 }}}}"
  actions:
    - action: mqtt.publish
      data: {{topic: bench/action/{k}, payload: '{{"seq": {{{{ trigger.payload_json.seq }}}}}}'}}
"""


def rules_yaml(rules: int) -> str:
    """The rule file: one rule per sensor 0 … rules-1, in the hub's own rule syntax."""
    return "".join(RULE.format(k=k) for k in range(rules))


def sensors_yaml(sensors: int) -> str:
    """The `devices:` section: every sensor a generic MQTT sensor entity (so each reading is recorded)."""
    if sensors == 0:
        return "devices: []\n"
    lines = ["devices:", "  - type: mqtt", "    name: bench", "    entities:"]
    for k in range(sensors):
        lines += [
            f"      - id: sensor.bench_{k}",
            f"        state_topic: {topic(k)}",
            "        json_path: value",
            "        qos: 1",
        ]
    return "\n".join(lines) + "\n"


def hub_config(
    host: str, port: int, data_dir: Path, rules_dir: Path, *, sensors: int, extra: str = "", mirror: bool = True
) -> str:
    """The hub's whole configuration file for one benchmark run (the hub's defaults unless told)."""
    return (
        f"hub:\n  name: Benchmark\n  data_dir: {data_dir}\n"
        f"log_level: warning\n"
        f"mqtt:\n  host: {host}\n  port: {port}\n  client_id: bench-hub\n  base_topic: hausmeister\n"
        + ("" if mirror else "  publish_states: false\n")
        + f"rules:\n  directory: {rules_dir}\n"
        + extra
        + sensors_yaml(sensors)
    )
