"""Every trigger type, driven by state changes, MQTT messages and a fake clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tests.rulelab import BERLIN, RuleLab


def rule(triggers: str, actions: str = "- action: switch.turn_on\n      target: {entity_id: switch.pump}") -> str:
    return f"""
- id: r
  mode: parallel
  triggers:
{_indent(triggers, 4)}
  actions:
    {actions}
"""


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.strip().splitlines())


async def test_state_trigger_fires_on_the_transition_it_names(tmp_path: Path) -> None:
    rules = rule("""
- trigger: state
  entity_id: binary_sensor.rain
  from: "off"
  to: "on"
""")
    async with RuleLab(tmp_path, rules, states={"binary_sensor.rain": "off", "switch.pump": "off"}) as lab:
        await lab.change("binary_sensor.rain", "on", attributes={"intensity": 3})
        await lab.change("binary_sensor.rain", "on", attributes={"intensity": 5})  # attributes only: no
        await lab.change("binary_sensor.rain", "off")
        assert lab.commands() == ["switch.turn_on switch.pump"]
        trigger = lab.last("r").trigger
        assert trigger["from_state"]["state"] == "off"
        assert trigger["to_state"]["state"] == "on"


async def test_state_trigger_without_to_ignores_unavailable_unless_asked(tmp_path: Path) -> None:
    rules = """
- id: any_change
  triggers: [{trigger: state, entity_id: sensor.level}]
  actions: [{action: log, data: {message: "{{ trigger.to_state.state }}"}}]
- id: gone
  triggers: [{trigger: state, entity_id: sensor.level, to: unavailable}]
  actions: [{action: log, data: {message: gone}}]
"""
    async with RuleLab(tmp_path, rules, states={"sensor.level": 3}) as lab:
        await lab.change("sensor.level", 4)
        await lab.change("sensor.level", 4, available=False)
        await lab.change("sensor.level", 4, available=True)
        assert [t.actions[0].result for t in lab.traces("any_change")] == ["4"]
        assert len(lab.traces("gone")) == 1


async def test_state_trigger_not_from_not_to_and_attribute(tmp_path: Path) -> None:
    rules = """
- id: not_docked
  mode: parallel
  triggers: [{trigger: state, entity_id: lawn_mower.garden, not_from: error, not_to: docked}]
  actions: [{action: log, data: {message: "{{ trigger.to_state.state }}"}}]
- id: battery
  mode: parallel
  triggers: [{trigger: state, entity_id: lawn_mower.garden, attribute: battery, to: 20}]
  actions: [{action: log, data: {message: low}}]
"""
    async with RuleLab(tmp_path, rules, states={"lawn_mower.garden": "docked"}) as lab:
        for value in ("mowing", "docked", "error", "paused", "returning"):
            await lab.change("lawn_mower.garden", value)
        await lab.change("lawn_mower.garden", "returning", attributes={"battery": 21})
        await lab.change("lawn_mower.garden", "returning", attributes={"battery": 20})
        assert [t.actions[0].result for t in reversed(lab.traces("not_docked"))] == ["mowing", "error", "returning"]
        assert len(lab.traces("battery")) == 1


async def test_state_trigger_with_for_fires_only_when_held(tmp_path: Path) -> None:
    rules = rule("""
- trigger: state
  entity_id: binary_sensor.door
  to: "on"
  for: {minutes: 5}
""")
    async with RuleLab(tmp_path, rules, states={"binary_sensor.door": "off", "switch.pump": "off"}) as lab:
        await lab.change("binary_sensor.door", "on")
        await lab.advance(240)
        await lab.change("binary_sensor.door", "off")  # closed before 5 minutes
        await lab.advance(600)
        assert lab.commands() == []
        await lab.change("binary_sensor.door", "on")
        await lab.advance(299)
        assert lab.commands() == []
        await lab.advance(1)
        assert lab.commands() == ["switch.turn_on switch.pump"]
        assert lab.last("r").trigger["for"] == 300


async def test_numeric_state_trigger_fires_when_crossing_into_the_range(tmp_path: Path) -> None:
    rules = rule("""
- trigger: numeric_state
  entity_id: sensor.temperature
  above: 20
  below: 30
""")
    async with RuleLab(tmp_path, rules, states={"sensor.temperature": 15, "switch.pump": "off"}) as lab:
        for value in (22, 25, 31, 28, "oops", 29):
            await lab.change("sensor.temperature", value)
        # 15→22 enters, 25 stays in, 31 leaves, 28 enters again, text leaves, 29 enters
        assert len(lab.commands()) == 3


async def test_numeric_state_trigger_on_attribute_and_template(tmp_path: Path) -> None:
    rules = rule("""
- trigger: numeric_state
  entity_id: lawn_mower.garden
  attribute: battery
  below: 20
  id: battery
- trigger: numeric_state
  entity_id: sensor.power
  value_template: "{{ value / 1000 }}"
  above: 2
  id: kilowatts
""")
    async with RuleLab(tmp_path, rules, states={"lawn_mower.garden": "mowing", "sensor.power": 500}) as lab:
        await lab.change("lawn_mower.garden", "mowing", attributes={"battery": 15})
        await lab.change("sensor.power", 2500)
        assert [t.trigger["id"] for t in reversed(lab.traces("r"))] == ["battery", "kilowatts"]


async def test_availability_trigger_with_for(tmp_path: Path) -> None:
    rules = rule(
        """
- trigger: availability
  entity_id: lawn_mower.garden
  to: unavailable
  for: 2min
""",
        actions="- action: notify\n      data: {message: the mower is offline}",
    )
    async with RuleLab(tmp_path, rules, states={"lawn_mower.garden": "mowing"}) as lab:
        await lab.change("lawn_mower.garden", available=False)
        await lab.advance(60)
        await lab.change("lawn_mower.garden", available=True)  # back within 2 minutes
        await lab.advance(300)
        assert lab.effects("notify") == []
        await lab.change("lawn_mower.garden", available=False)
        await lab.advance(120)
        assert [e.data["message"] for e in lab.effects("notify")] == ["the mower is offline"]


async def test_mqtt_trigger_with_wildcards_payload_and_json(tmp_path: Path) -> None:
    rules = """
- id: relay
  mode: parallel
  triggers:
    - trigger: mqtt
      topic: garden/+/moisture/#
  actions:
    - action: mqtt.publish
      data:
        topic: "out/{{ trigger.topic.split('/')[1] }}"
        payload: "{{ trigger.payload_json.value * 2 }} {{ trigger.retain }}"
- id: only_on
  triggers:
    - {trigger: mqtt, topic: garden/switch, payload: "ON"}
  actions:
    - {action: mqtt.publish, data: {topic: out/switch, payload: seen}}
"""
    async with RuleLab(tmp_path, rules) as lab:
        await lab.mqtt("garden/bed1/moisture/raw", '{"value": 21}', retain=True)
        await lab.mqtt("garden/bed1/temperature", '{"value": 5}')
        await lab.mqtt("garden/switch", "OFF")
        await lab.mqtt("garden/switch", "ON")
        assert lab.published() == [("out/bed1", "42 True"), ("out/switch", "seen")]
        assert lab.last("relay").trigger["payload"] == '{"value": 21}'


async def test_time_trigger_with_weekdays(tmp_path: Path) -> None:
    rules = rule("""
- trigger: time
  at: ["07:30", "19:00"]
  weekday: [mon, sat]
""")
    async with RuleLab(tmp_path, rules, states={"switch.pump": "off"}) as lab:  # Monday noon
        await lab.advance(7 * 86400)
        fired = [datetime.fromtimestamp(t.started, BERLIN).strftime("%a %H:%M") for t in reversed(lab.traces("r"))]
        assert fired == ["Mon 19:00", "Sat 07:30", "Sat 19:00", "Mon 07:30"]


async def test_time_trigger_follows_daylight_saving_time(tmp_path: Path) -> None:
    rules = rule("- {trigger: time, at: '02:30'}\n- {trigger: time, at: '08:00'}")
    start = datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN)  # the clocks go forward on the 29th at 02:00
    async with RuleLab(tmp_path, rules, states={"switch.pump": "off"}, start=start) as lab:
        await lab.advance(2 * 86400)
        fired = [datetime.fromtimestamp(t.started, BERLIN).strftime("%d %H:%M") for t in reversed(lab.traces("r"))]
        # 02:30 does not exist on the 29th: it fires when the clocks have jumped, at 03:30
        assert fired == ["29 03:30", "29 08:00", "30 02:30", "30 08:00"]


async def test_cron_and_interval_triggers(tmp_path: Path) -> None:
    rules = rule("""
- {trigger: cron, expression: "15 */6 * * *", id: cron}
- {trigger: interval, every: 2h, id: interval}
""")
    async with RuleLab(tmp_path, rules, states={"switch.pump": "off"}) as lab:  # 12:00 Berlin = 10:00 UTC
        await lab.advance(8 * 3600)
        fired = [
            (t.trigger["id"], datetime.fromtimestamp(t.started, BERLIN).strftime("%H:%M"))
            for t in reversed(lab.traces("r"))
        ]
        assert fired == [
            ("cron", "12:15"),
            ("interval", "14:00"),
            ("interval", "16:00"),
            ("interval", "18:00"),
            ("cron", "18:15"),
            ("interval", "20:00"),
        ]


async def test_sun_trigger_with_offset(tmp_path: Path) -> None:
    rules = rule("""
- {trigger: sun, event: sunset, offset: "-00:30:00", id: before_sunset}
- {trigger: sun, event: sunrise, offset: 10min, id: after_sunrise}
""")
    start = datetime(2026, 6, 21, 12, 0, tzinfo=BERLIN)
    async with RuleLab(tmp_path, rules, states={"switch.pump": "off"}, start=start) as lab:
        await lab.advance(86400)
        fired = [
            (t.trigger["id"], datetime.fromtimestamp(t.started, BERLIN).strftime("%H:%M"))
            for t in reversed(lab.traces("r"))
        ]
        assert fired == [("before_sunset", "21:02"), ("after_sunrise", "04:53")]


async def test_hub_start_trigger_fires_at_each_start(tmp_path: Path) -> None:
    rules = rule("- trigger: hub", actions="- action: log\n      data: {message: started}")
    async with RuleLab(tmp_path, rules) as lab:
        assert len(lab.traces("r")) == 1
        await lab.restart()
        assert lab.last("r").trigger["platform"] == "hub"
        assert [t.outcome for t in lab.traces("r")] == ["ran", "ran"]


async def test_disabled_trigger_does_not_fire(tmp_path: Path) -> None:
    rules = rule("""
- {trigger: state, entity_id: switch.a, enabled: false}
- {trigger: state, entity_id: switch.b}
""")
    async with RuleLab(tmp_path, rules, states={"switch.a": "off", "switch.b": "off", "switch.pump": "off"}) as lab:
        await lab.change("switch.a", "on")
        assert lab.commands() == []
        await lab.change("switch.b", "on")
        assert lab.commands() == ["switch.turn_on switch.pump"]
