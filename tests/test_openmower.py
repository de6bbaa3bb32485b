"""OpenMower: robot_state/json in, actions out, through a real Mosquitto and the simulated robot; the
rain interlock; bad payloads; availability when the robot goes quiet."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from devices.registry import config_models, load_registry
from devices.sim.openmower import OpenMowerSim
from hub.clock import FakeClock
from hub.config import Config, parse_config
from hub.entity import EntitySpec
from hub.errors import CommandError, ConfigError
from hub.supervisor import Hub
from hub.yamlfile import load_text
from tests.broker import Mosquitto
from tests.conftest import eventually
from tests.sims import running

MOWER = "lawn_mower.mower"
RAIN = "binary_sensor.rain"

# The payloads xbot_monitoring publishes (field for field as robot_state_callback writes them),
# for a newer robot and for firmware that predates rain_detected and current_action_progress.
MOWING = {
    "battery_percentage": 0.87, "gps_percentage": 0.95, "current_action_progress": 0.4,
    "current_state": "MOWING", "current_sub_state": "", "current_area": 0, "current_path": 3,
    "current_path_index": 120, "emergency": False, "is_charging": False, "rain_detected": False,
    "pose": {"x": 1.2, "y": -3.4, "heading": 0.5, "pos_accuracy": 0.02, "heading_accuracy": 0.1, "heading_valid": 1},
}  # fmt: skip
OLD_FIRMWARE_DOCKED = {
    "battery_percentage": 0.5, "gps_percentage": 0.0, "current_state": "IDLE", "current_sub_state": "",
    "emergency": False, "is_charging": True, "pose": {"x": 0.0, "y": 0.0, "heading": 3.1},
}  # fmt: skip


def mower_config(tmp_path: Path, mosquitto: Mosquitto, prefix: str, extra: str = "", interlock: str = RAIN) -> Config:
    """A hub config with one OpenMower whose topics carry the test's prefix."""
    text = f"""
hub:
  data_dir: {tmp_path / "data"}
mqtt:
  host: {mosquitto.host}
  port: {mosquitto.port}
  client_id: hub-{prefix}
  base_topic: {prefix}hub
  publish_states: false
devices:
  - type: openmower
    name: mower
    topic_prefix: {prefix}om
    refuse_start_while: [{interlock}]
{extra}"""
    return parse_config(
        load_text(text, "hub.yaml"), "hub.yaml", config_models(load_registry()), path=tmp_path / "h.yaml"
    )


@contextlib.asynccontextmanager
async def mower_hub(tmp_path: Path, mosquitto: Mosquitto, prefix: str, clock: FakeClock) -> AsyncIterator[Hub]:
    """A hub with the mower and a rain sensor that some other device reports (dry to begin with)."""
    async with Hub(mower_config(tmp_path, mosquitto, prefix), clock=clock) as hub:
        hub.store.add(EntitySpec(RAIN, "Rain sensor", device_class="rain"))
        hub.store.set(RAIN, "off")
        yield hub


def value(hub: Hub, entity_id: str = MOWER) -> Any:
    """The current value of an entity."""
    state = hub.state(entity_id)
    assert state is not None
    return state.value


def attributes(hub: Hub, entity_id: str = MOWER) -> Any:
    """The current attributes of an entity."""
    state = hub.state(entity_id)
    assert state is not None
    return state.attributes


def available(hub: Hub) -> bool:
    """Whether the mower is available."""
    state = hub.state(MOWER)
    return state is not None and state.available


async def heard(hub: Hub, report: Callable[[], Awaitable[None]]) -> None:
    """Report the robot's state until the hub has it, as the robot does several times a second: the
    hub subscribes a moment after it starts, and these reports are not retained."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not available(hub):
        assert loop.time() < deadline, "the hub never heard the robot"
        await report()
        await asyncio.sleep(0.02)


async def command(hub: Hub, action: str) -> Any:
    """A mower command, bounded in real time so a missing confirmation fails fast."""
    return await asyncio.wait_for(hub.command(MOWER, action), 5)


Start = Callable[[], contextlib.AbstractAsyncContextManager[Hub]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def start(tmp_path: Path, mosquitto: Mosquitto, prefix: str, clock: FakeClock) -> Start:
    """`async with start() as hub:` runs a hub with the mower."""
    return lambda: mower_hub(tmp_path, mosquitto, prefix, clock)


@pytest.fixture
async def robot(mosquitto: Mosquitto, prefix: str, clock: FakeClock) -> AsyncIterator[OpenMowerSim]:
    async with running(OpenMowerSim(mosquitto.host, mosquitto.port, clock=clock, prefix=f"{prefix}om/")) as sim:
        yield sim


async def test_robot_state_payloads_become_a_lawn_mower(start: Start, probe: aiomqtt.Client, prefix: str) -> None:
    async with start() as hub:
        assert not available(hub)  # nothing heard from it yet
        topic = f"{prefix}om/robot_state/json"
        await heard(hub, lambda: probe.publish(topic, json.dumps(MOWING)))
        assert value(hub) == "mowing"
        assert available(hub)
        shown = attributes(hub)
        assert shown["battery"] == 87 and shown["charging"] is False and shown["emergency"] is False
        assert shown["vendor_state"] == "MOWING" and shown["error_code"] is None
        assert shown["gps"] == 95 and shown["pose"] == {"x": 1.2, "y": -3.4, "heading": 0.5}
        assert value(hub, "sensor.mower_battery") == 87
        assert hub.store.spec("sensor.mower_battery").device_class == "battery"  # type: ignore[union-attr]

        await probe.publish(topic, json.dumps(OLD_FIRMWARE_DOCKED))
        await eventually(lambda: value(hub) == "docked")
        assert attributes(hub)["charging"] is True and attributes(hub)["rain_detected"] is None
        for vendor, activity in [("UNDOCKING", "mowing"), ("PAUSED", "paused"), ("DOCKING", "returning"),
                                 ("AREA_RECORDING", "paused"), ("IDLE", "docked")]:  # fmt: skip
            await probe.publish(topic, json.dumps({**MOWING, "current_state": vendor}))
            await eventually(lambda activity=activity: value(hub) == activity)  # type: ignore[misc]
        await probe.publish(topic, json.dumps({**MOWING, "emergency": True}))
        await eventually(lambda: value(hub) == "error")
        assert attributes(hub)["error_code"] == "emergency" and attributes(hub)["vendor_state"] == "MOWING"


async def test_commands_drive_the_robot_and_are_confirmed(start: Start, robot: OpenMowerSim, clock: FakeClock) -> None:
    async with start() as hub:
        await heard(hub, robot.publish_state)
        assert value(hub) == "docked"
        assert (await command(hub, "start_mowing")).value == "mowing"
        assert robot.received == ["mower_logic:idle/start_mowing"]
        assert attributes(hub)["vendor_state"] == "UNDOCKING"
        await clock.advance(10)
        await eventually(lambda: attributes(hub)["vendor_state"] == "MOWING")

        assert (await command(hub, "pause")).value == "paused"
        assert robot.received[-1] == "mower_logic:mowing/pause"
        assert (await command(hub, "start_mowing")).value == "mowing"  # from a pause it continues
        assert robot.received[-1] == "mower_logic:mowing/continue"

        assert (await command(hub, "dock")).value == "returning"
        assert robot.received[-1] == "mower_logic:mowing/abort_mowing"
        with pytest.raises(CommandError, match="on its way home; OpenMower can start it again once it has docked"):
            await command(hub, "start_mowing")
        await clock.advance(30)
        await eventually(lambda: value(hub) == "docked")
        assert (await command(hub, "dock")).value == "docked"  # already home: nothing to send
        assert robot.received[-1] == "mower_logic:mowing/abort_mowing" and len(robot.received) == 4


async def test_low_battery_sends_it_home_where_it_charges(
    start: Start, mosquitto: Mosquitto, prefix: str, clock: FakeClock
) -> None:
    sim = OpenMowerSim(mosquitto.host, mosquitto.port, clock=clock, prefix=f"{prefix}om/", battery=0.25)
    async with running(sim), start() as hub:
        await heard(hub, sim.publish_state)
        assert value(hub) == "docked"
        await command(hub, "start_mowing")
        await clock.advance(10)
        await eventually(lambda: value(hub) == "mowing" and attributes(hub)["vendor_state"] == "MOWING")
        await clock.advance(600)  # 0.6 of the battery an hour: a tenth of an hour and it is at 0.19
        await eventually(lambda: value(hub) == "returning")
        await clock.advance(30)
        await eventually(lambda: value(hub) == "docked")
        assert attributes(hub)["charging"] is True
        low = value(hub, "sensor.mower_battery")
        await clock.advance(1800)
        await eventually(lambda: value(hub, "sensor.mower_battery") > low)


async def test_an_emergency_stop_shows_as_error_and_blocks_starting(
    start: Start, robot: OpenMowerSim, clock: FakeClock
) -> None:
    async with start() as hub:
        await heard(hub, robot.publish_state)
        assert value(hub) == "docked"
        await command(hub, "start_mowing")
        await clock.advance(10)
        await eventually(lambda: attributes(hub)["vendor_state"] == "MOWING")
        await robot.set_emergency(True)
        await eventually(lambda: value(hub) == "error")
        assert attributes(hub)["error_code"] == "emergency"
        with pytest.raises(CommandError, match="The mower will not start: it reports an emergency stop"):
            await command(hub, "start_mowing")
        with pytest.raises(CommandError, match="emergency stop and stands still"):
            await command(hub, "pause")
        await robot.set_emergency(False)
        await eventually(lambda: value(hub) == "paused")
        assert (await command(hub, "start_mowing")).value == "mowing"


async def test_rain_interlock_refuses_to_start_with_a_clear_message(start: Start, robot: OpenMowerSim) -> None:
    async with start() as hub:
        await heard(hub, robot.publish_state)
        assert value(hub) == "docked"
        hub.store.set(RAIN, "on")
        with pytest.raises(CommandError) as refused:
            await command(hub, "start_mowing")
        assert str(refused.value) == "The mower will not start: binary_sensor.rain is on (rain)"
        assert robot.received == []  # nothing was sent to the robot
        assert value(hub) == "docked"
        assert hub.counters.get("commands.failed") == 1

        hub.store.set(RAIN, available=False)  # the rain sensor's battery died: the hub cannot tell
        with pytest.raises(CommandError, match=r"binary_sensor.rain is unavailable, so the hub cannot tell"):
            await command(hub, "start_mowing")

        hub.store.set(RAIN, "off", available=True)
        assert (await command(hub, "start_mowing")).value == "mowing"
        assert robot.received == ["mower_logic:idle/start_mowing"]


async def test_interlock_on_an_entity_that_does_not_exist_refuses(
    tmp_path: Path, mosquitto: Mosquitto, prefix: str, robot: OpenMowerSim, clock: FakeClock
) -> None:
    async with Hub(mower_config(tmp_path, mosquitto, prefix), clock=clock) as hub:  # no rain sensor at all
        await heard(hub, robot.publish_state)
        assert value(hub) == "docked"
        with pytest.raises(CommandError, match=r"binary_sensor\.rain does not exist, so the hub cannot tell"):
            await command(hub, "start_mowing")


async def test_commands_the_robot_cannot_take_now_are_explained(
    start: Start, robot: OpenMowerSim, clock: FakeClock
) -> None:
    async with start() as hub:
        await heard(hub, robot.publish_state)
        assert value(hub) == "docked"
        with pytest.raises(CommandError, match="The mower is docked; there is nothing to pause"):
            await command(hub, "pause")
        await command(hub, "start_mowing")  # undocking now
        with pytest.raises(CommandError, match="still leaving its dock"):
            await command(hub, "pause")
        assert robot.received == ["mower_logic:idle/start_mowing"]


BAD = [
    b"MOWING",
    b"[0.87]",
    json.dumps({**MOWING, "battery_percentage": "87%"}).encode(),
    json.dumps({**MOWING, "battery_percentage": 87}).encode(),  # a percentage, not OpenMower's fraction
    json.dumps({**MOWING, "emergency": "no"}).encode(),
    json.dumps({**MOWING, "is_charging": 0}).encode(),
    json.dumps({**MOWING, "current_state": 3}).encode(),
    json.dumps({k: v for k, v in MOWING.items() if k != "current_state"}).encode(),
    json.dumps({**MOWING, "pose": "by the shed"}).encode(),
    json.dumps({**MOWING, "current_area": "front"}).encode(),
    b"\xff\xfe\x00",
]


async def test_bad_payloads_are_logged_once_counted_and_ignored(
    start: Start, probe: aiomqtt.Client, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with start() as hub:
        topic = f"{prefix}om/robot_state/json"
        await heard(hub, lambda: probe.publish(topic, json.dumps(MOWING)))
        before = hub.state(MOWER)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            for payload in BAD:
                await probe.publish(topic, payload)
            await eventually(lambda: hub.counters.get("mqtt.bad_payload") == len(BAD))
        assert len([r for r in caplog.records if r.getMessage().startswith("Ignored a message on")]) == len(BAD)
        assert hub.state(MOWER) == before
        await probe.publish(topic, json.dumps({**MOWING, "current_state": "DOCKING"}))
        await eventually(lambda: value(hub) == "returning")  # and it still follows the robot


async def test_a_state_the_hub_does_not_know_is_shown_as_unknown(
    start: Start, probe: aiomqtt.Client, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with start() as hub:
        topic = f"{prefix}om/robot_state/json"
        with caplog.at_level(logging.WARNING):
            await heard(hub, lambda: probe.publish(topic, json.dumps({**MOWING, "current_state": "NULL"})))
            for _ in range(3):
                await probe.publish(topic, json.dumps({**MOWING, "current_state": "NULL"}))
            await eventually(lambda: hub.counters.get("mqtt.received") >= 4)
        assert value(hub) is None
        assert caplog.text.count("reports the state 'NULL'") == 1
        with pytest.raises(CommandError, match="reports 'NULL', which the hub does not know"):
            await command(hub, "dock")


async def test_availability_follows_the_robot(
    start: Start, mosquitto: Mosquitto, prefix: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    def robot() -> OpenMowerSim:
        return OpenMowerSim(mosquitto.host, mosquitto.port, clock=clock, prefix=f"{prefix}om/")

    async with start() as hub:
        async with running(robot()) as first:
            await heard(hub, first.publish_state)
        with caplog.at_level(logging.WARNING):
            await clock.advance(31)  # it has gone quiet (OpenMower has no last will)
            await eventually(lambda: not available(hub))
            assert not hub.state("sensor.mower_battery").available  # type: ignore[union-attr]
            await clock.advance(60)
        assert caplog.text.count("has sent no state for 30 s") == 1
        async with running(robot()) as second:
            await heard(hub, second.publish_state)


def test_config_mistakes_are_explained(tmp_path: Path, mosquitto: Mosquitto) -> None:
    with pytest.raises(ConfigError, match=r"write its id as lawn_mower\.<name>"):
        mower_config(tmp_path, mosquitto, "c", "    id: switch.mower")
    with pytest.raises(ConfigError, match="is not an entity id"):
        mower_config(tmp_path, mosquitto, "c", interlock="rain")
