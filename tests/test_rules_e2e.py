"""End to end on a real broker: an MQTT message → a generic MQTT sensor → a rule → a command
published on the broker, confirmed by the device (played by a probe client) → the rule goes on."""

from __future__ import annotations

from pathlib import Path

import aiomqtt

from devices.registry import config_models, load_registry
from hub.config import parse_config
from hub.supervisor import Hub
from hub.yamlfile import load_text
from tests.broker import Mosquitto
from tests.conftest import eventually, next_message, write


def config_text(tmp_path: Path, broker: Mosquitto, prefix: str) -> str:
    return f"""
hub: {{data_dir: {tmp_path / "data"}, time_zone: Europe/Berlin}}
mqtt: {{host: {broker.host}, port: {broker.port}, client_id: hm-{prefix}, base_topic: {prefix}/hm}}
rules: {{directory: {tmp_path / "rules"}}}
devices:
  - type: mqtt
    name: tank
    entities:
      - {{id: sensor.tank_level, state_topic: {prefix}/tank/level, json_path: level}}
      - {{id: switch.tank_pump, command_topic: {prefix}/pump/set, state_topic: {prefix}/pump/state}}
"""


RULES = """
- id: refill
  triggers: [{{trigger: numeric_state, entity_id: sensor.tank_level, below: 20}}]
  actions:
    - action: switch.turn_on
      target: {{entity_id: switch.tank_pump}}
    - action: mqtt.publish
      data: {{topic: {prefix}/events, payload: "refill started at {{{{ states('sensor.tank_level') }}}} %"}}
- id: bench_0
  triggers: [{{trigger: mqtt, topic: {prefix}/bench/sensor/0}}]
  conditions: ["{{{{ trigger.payload_json.value > 50 }}}}"]
  actions:
    - action: mqtt.publish
      data: {{topic: {prefix}/bench/action/0, payload: '{{"seq": {{{{ trigger.payload_json.seq }}}}}}'}}
"""


async def test_mqtt_sensor_to_rule_to_confirmed_command(
    tmp_path: Path, mosquitto: Mosquitto, probe: aiomqtt.Client, prefix: str
) -> None:
    (tmp_path / "rules").mkdir()
    write(tmp_path / "rules" / "tank.yaml", RULES.format(prefix=prefix))
    text = config_text(tmp_path, mosquitto, prefix)
    config = parse_config(load_text(text, "hausmeister.yaml"), "hausmeister.yaml", config_models(load_registry()))
    await probe.subscribe(f"{prefix}/pump/set")
    await probe.subscribe(f"{prefix}/events")
    await probe.subscribe(f"{prefix}/bench/action/0")
    async with Hub(config) as hub:
        assert hub.mqtt is not None and hub.rules is not None
        await hub.mqtt.wait_connected()
        await probe.publish(f"{prefix}/pump/state", "OFF")
        await eventually(lambda: (s := hub.state("switch.tank_pump")) is not None and s.value == "off")

        await probe.publish(f"{prefix}/tank/level", '{"level": 15}')
        command = await next_message(probe, f"{prefix}/pump/set")
        assert command.payload == b"ON"
        await probe.publish(f"{prefix}/pump/state", "ON")  # the pump confirms
        event = await next_message(probe, f"{prefix}/events")
        assert event.payload == b"refill started at 15 %"
        trace = hub.rules.traces("refill")[0]
        assert trace.outcome == "ran" and trace.actions[0].result and "confirmed" in trace.actions[0].result

        await probe.publish(f"{prefix}/bench/sensor/0", '{"value": 10, "seq": 1}')
        await probe.publish(f"{prefix}/bench/sensor/0", '{"value": 60, "seq": 2}')
        action = await next_message(probe, f"{prefix}/bench/action/0")
        assert action.payload == b'{"seq": 2}'
        assert [t.outcome for t in hub.rules.traces("bench_0")] == ["ran", "conditions"]
