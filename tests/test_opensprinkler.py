"""OpenSprinkler: zones, master valve, sequences, rain delay and sensors, through a real Mosquitto and the
simulated controller's real HTTP API on loopback; bad input and unreachable controllers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from devices.registry import config_models, load_registry
from devices.sim.opensprinkler import OpenSprinklerSim
from hub.clock import FakeClock
from hub.config import Config, parse_config
from hub.errors import CommandError, ConfigError
from hub.supervisor import Hub
from hub.yamlfile import load_text
from tests.broker import Mosquitto, free_port
from tests.conftest import eventually
from tests.sims import running

GARDEN = """
    name: garden
    max_run: 45min
    zones:
      - {station: 0, id: valve.front_beds, name: Front beds, max_run: 30min}
      - {station: 1, id: valve.lawn, name: Lawn}
      - {station: 2, id: valve.hedge, name: Hedge, use_master: false}
    master: {station: 7, id: valve.irrigation_main}
    sequences:
      - name: morning
        title: Morning round
        steps:
          - {zone: valve.lawn, duration: 20min}
          - {zone: valve.front_beds, duration: 10min}
    sensor1: rain
    flow_unit: L
"""


def garden_config(tmp_path: Path, mosquitto: Mosquitto, prefix: str, url: str, device: str = GARDEN) -> Config:
    """A hub config with one OpenSprinkler device, validated like a user's file."""
    text = f"""
hub:
  data_dir: {tmp_path / "data"}
mqtt:
  host: {mosquitto.host}
  port: {mosquitto.port}
  client_id: hub-{prefix}
  base_topic: {prefix}hub
  publish_states: false  # the state mirror is not under test here (and can hang shutdown on 3.11, see report)
devices:
  - type: opensprinkler
    url: {url}
    topic: {prefix}os
{device}"""
    return parse_config(
        load_text(text, "hub.yaml"), "hub.yaml", config_models(load_registry()), path=tmp_path / "h.yaml"
    )


@contextlib.asynccontextmanager
async def garden_hub(
    tmp_path: Path, mosquitto: Mosquitto, prefix: str, sim: OpenSprinklerSim, clock: FakeClock
) -> AsyncIterator[Hub]:
    """A hub driving the simulated controller, started once its zones are available."""
    config = garden_config(tmp_path, mosquitto, prefix, f"http://127.0.0.1:{sim.http_port}")
    async with Hub(config, clock=clock) as hub:
        await eventually(lambda: _available(hub, "valve.front_beds"))
        await subscribed(hub, sim)
        yield hub


async def subscribed(hub: Hub, sim: OpenSprinklerSim) -> None:
    """Wait until the hub follows the controller's MQTT events. The hub subscribes a moment after it
    starts and the events are not retained, so the controller sends weather updates until one arrives
    (the driver subscribes to that topic last)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while value(hub, "sensor.garden_water_level") != 100:
        assert loop.time() < deadline, "the hub never subscribed to the controller's topics"
        await sim.weather_update(100)
        await asyncio.sleep(0.02)


def _available(hub: Hub, entity_id: str) -> bool:
    state = hub.state(entity_id)
    return state is not None and state.available


def attributes(hub: Hub, entity_id: str) -> Any:
    """The current attributes of an entity."""
    state = hub.state(entity_id)
    assert state is not None, entity_id
    return state.attributes


def value(hub: Hub, entity_id: str) -> Any:
    """The current value of an entity."""
    state = hub.state(entity_id)
    assert state is not None, entity_id
    return state.value


async def command(hub: Hub, entity_id: str, action: str, **params: Any) -> Any:
    """A command with a real-time bound, so a missing confirmation fails fast instead of hanging."""
    return await asyncio.wait_for(hub.command(entity_id, action, **params), 5)


Garden = Callable[[OpenSprinklerSim], contextlib.AbstractAsyncContextManager[Hub]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def garden(tmp_path: Path, mosquitto: Mosquitto, prefix: str, clock: FakeClock) -> Garden:
    """Start a hub for a simulated controller: `async with garden(sim) as hub:`."""
    return lambda sim: garden_hub(tmp_path, mosquitto, prefix, sim, clock)


@pytest.fixture
async def sim(mosquitto: Mosquitto, prefix: str, clock: FakeClock) -> AsyncIterator[OpenSprinklerSim]:
    controller = OpenSprinklerSim(
        mosquitto.host, mosquitto.port, clock=clock, topic=f"{prefix}os", master=7, flow_rate=12
    )
    async with running(controller):
        yield controller


async def test_zone_opens_for_a_duration_and_closes_on_command(
    garden: Garden, sim: OpenSprinklerSim, clock: FakeClock
) -> None:
    async with garden(sim) as hub:
        state = await command(hub, "valve.front_beds", "open", duration=600)
        assert state.value == "open"
        assert sim.on[0] is True
        assert ("/cm", {"sid": "0", "en": "1", "t": "600"}) in sim.requests
        assert value(hub, "valve.irrigation_main") == "open"  # the master opens with any zone

        state = await command(hub, "valve.front_beds", "close")
        assert state.value == "closed"
        assert sim.on[0] is False
        assert value(hub, "valve.irrigation_main") == "closed"
        # The controller's closing event tells how long the zone ran and how much flowed.
        await eventually(lambda: "last_run" in attributes(hub, "valve.front_beds"))
        await eventually(lambda: value(hub, "sensor.garden_flow_volume") is not None)


async def test_controller_timer_ends_a_run_and_the_hub_shows_it(
    garden: Garden, sim: OpenSprinklerSim, clock: FakeClock
) -> None:
    async with garden(sim) as hub:
        await command(hub, "valve.lawn", "open", duration=300)
        assert hub.timers is not None and len(await hub.timers.load()) == 1  # the run limit is persisted
        await clock.advance(300)
        await eventually(lambda: "last_run" in attributes(hub, "valve.lawn"))  # the controller's closing event
        assert value(hub, "valve.lawn") == "closed"
        assert attributes(hub, "valve.lawn")["last_run"]["duration"] == 300
        assert value(hub, "valve.irrigation_main") == "closed"
        await hub.commands.run("button.garden_stop_all", "press")  # a round trip: pending timer writes are done
        assert await hub.timers.load() == []  # a zone that closed has no deadline left


async def test_open_without_duration_uses_the_default(garden: Garden, sim: OpenSprinklerSim, clock: FakeClock) -> None:
    async with garden(sim) as hub:
        await command(hub, "valve.lawn", "open")
        assert ("/cm", {"sid": "1", "en": "1", "t": "600"}) in sim.requests  # default_duration 10 min


async def test_a_run_longer_than_max_run_is_refused_before_it_starts(
    garden: Garden, sim: OpenSprinklerSim, clock: FakeClock
) -> None:
    async with garden(sim) as hub:
        with pytest.raises(CommandError, match=r"Front beds' may run at most 30 min \(its max_run\), not 1 h"):
            await command(hub, "valve.front_beds", "open", duration=3600)
        assert not any(path == "/cm" for path, _ in sim.requests)
        assert sim.on[0] is False


async def test_a_second_zone_waits_for_its_turn(garden: Garden, sim: OpenSprinklerSim, clock: FakeClock) -> None:
    async with garden(sim) as hub:
        await command(hub, "valve.front_beds", "open", duration=120)
        state = await command(hub, "valve.lawn", "open", duration=60)
        assert state.value == "opening"  # accepted by the controller, queued behind the front beds
        await clock.advance(120)
        await eventually(lambda: value(hub, "valve.lawn") == "open")
        assert value(hub, "valve.front_beds") == "closed"
        assert value(hub, "valve.irrigation_main") == "open"


async def test_master_valve_follows_zones_and_cannot_be_opened_alone(
    garden: Garden, sim: OpenSprinklerSim, clock: FakeClock
) -> None:
    async with garden(sim) as hub:
        with pytest.raises(CommandError, match="opens by itself whenever a zone runs"):
            await command(hub, "valve.irrigation_main", "open")
        await command(hub, "valve.hedge", "open", duration=60)
        assert value(hub, "valve.irrigation_main") == "closed"  # the hedge line does not use the master
        await command(hub, "valve.hedge", "close")
        await command(hub, "valve.lawn", "open", duration=60)
        assert value(hub, "valve.irrigation_main") == "open"
        state = await command(hub, "valve.irrigation_main", "close")  # closing the master stops everything
        assert state.value == "closed"
        assert value(hub, "valve.lawn") == "closed"
        assert ("/cv", {"rsn": "1"}) in sim.requests


async def test_stop_all_button_stops_the_running_and_the_queued(
    garden: Garden, sim: OpenSprinklerSim, clock: FakeClock
) -> None:
    async with garden(sim) as hub:
        await command(hub, "valve.front_beds", "open", duration=600)
        await command(hub, "valve.lawn", "open", duration=600)
        await command(hub, "button.garden_stop_all", "press")
        assert value(hub, "valve.front_beds") == "closed"
        assert value(hub, "valve.lawn") == "closed"
        assert sim.on == [False] * 8 and sim.queue == []


async def test_sequence_button_runs_its_zones_on_the_controller(
    garden: Garden, sim: OpenSprinklerSim, clock: FakeClock
) -> None:
    async with garden(sim) as hub:
        assert hub.store.spec("button.garden_run_morning").display_name == "Morning round"  # type: ignore[union-attr]
        await command(hub, "button.garden_run_morning", "press")
        assert ("/cr", {"t": "[600,1200,0,0,0,0,0,0]"}) in sim.requests
        # The controller runs a run-once program in station order, one zone at a time.
        assert value(hub, "valve.front_beds") == "open"
        assert value(hub, "valve.lawn") == "opening"
        await clock.advance(600)
        await eventually(lambda: value(hub, "valve.lawn") == "open")
        assert value(hub, "valve.front_beds") == "closed"
        await clock.advance(1200)
        await eventually(lambda: value(hub, "valve.lawn") == "closed")
        await eventually(lambda: value(hub, "valve.irrigation_main") == "closed")


async def test_rain_delay_in_hours(garden: Garden, sim: OpenSprinklerSim, clock: FakeClock) -> None:
    async with garden(sim) as hub:
        assert value(hub, "number.garden_rain_delay") == 0
        state = await command(hub, "number.garden_rain_delay", "set_value", value=24)
        assert state.value == 24
        assert sim.rain_delay_end == sim.device_time + 24 * 3600
        assert value(hub, "binary_sensor.garden_rain_delay") == "on"
        with pytest.raises(CommandError, match="whole number of hours"):
            await command(hub, "number.garden_rain_delay", "set_value", value=1.5)
        await clock.advance(3 * 3600)
        await command(hub, "button.garden_stop_all", "press")  # any poll reads the hours left
        assert value(hub, "number.garden_rain_delay") == 21
        await clock.advance(21 * 3600)  # the controller ends the delay itself and says so on MQTT
        await eventually(lambda: value(hub, "binary_sensor.garden_rain_delay") == "off")
        assert value(hub, "number.garden_rain_delay") == 0


async def test_controller_events_in_the_firmware_formats(
    garden: Garden, sim: OpenSprinklerSim, probe: aiomqtt.Client
) -> None:
    """The exact payloads the firmware publishes (older and newer firmware), as written in its source."""
    async with garden(sim) as hub:
        base = sim.topic
        await probe.publish(f"{base}/station/2", b'{"state":1}')  # firmware before 2.2.0: no duration
        await eventually(lambda: value(hub, "valve.hedge") == "open")
        await probe.publish(f"{base}/station/2", b'{"state":0,"duration":598,"flow":3.21}')
        await eventually(lambda: value(hub, "valve.hedge") == "closed")
        assert attributes(hub, "valve.hedge")["last_run"]["duration"] == 598
        assert attributes(hub, "valve.hedge")["last_run"]["flow"] == 3.21
        await probe.publish(f"{base}/station/1", b'{"state":1,"duration":600}')  # firmware 2.2: planned duration
        await eventually(lambda: value(hub, "valve.lawn") == "open")
        assert attributes(hub, "valve.lawn")["planned_duration"] == 600
        await probe.publish(f"{base}/sensor1", b'{"state":1}')
        await probe.publish(f"{base}/raindelay", b'{"state":1}')
        await probe.publish(f"{base}/weather", b'{"water level":87}')
        await probe.publish(f"{base}/sensor/flow", b'{"count":1234,"volume":56.78}')
        await eventually(lambda: value(hub, "binary_sensor.garden_sensor1") == "on")
        await eventually(lambda: value(hub, "binary_sensor.garden_rain_delay") == "on")
        await eventually(lambda: value(hub, "sensor.garden_water_level") == 87)
        await eventually(lambda: value(hub, "sensor.garden_flow_volume") == 56.78)
        assert attributes(hub, "sensor.garden_flow_volume")["count"] == 1234
        assert hub.store.spec("binary_sensor.garden_sensor1").device_class == "rain"  # type: ignore[union-attr]


BAD = [
    ("station/0", b"on"),
    ("station/0", b'{"state":"on"}'),
    ("station/0", b'{"state":1,"duration":"ten minutes"}'),
    ("station/0", b"[1]"),
    ("station/x", b'{"state":1}'),
    ("sensor1", b"wet"),
    ("sensor1", b'{"state":true}'),
    ("raindelay", b"{"),
    ("raindelay", b'{"state":2}'),
    ("weather", b'{"water level":"high"}'),
    ("weather", b"87"),
    ("sensor/flow", b'{"count":1.5,"volume":3}'),
    ("sensor/flow", b'{"count":12}'),
    ("availability", b"maybe"),
    ("availability", b"\xff\xfe"),
]


async def test_bad_messages_on_every_topic_are_logged_once_and_counted(
    garden: Garden, sim: OpenSprinklerSim, probe: aiomqtt.Client, caplog: pytest.LogCaptureFixture
) -> None:
    async with garden(sim) as hub:
        before = {
            e: hub.state(e) for e in ("valve.front_beds", "binary_sensor.garden_sensor1", "sensor.garden_water_level")
        }
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            for subtopic, payload in BAD:
                await probe.publish(f"{sim.topic}/{subtopic}", payload)
            await eventually(lambda: hub.counters.get("mqtt.bad_payload") == len(BAD))
        ignored = [r for r in caplog.records if r.getMessage().startswith("Ignored a message on")]
        assert len(ignored) == len(BAD)  # one line per bad message, nothing else
        assert all(hub.state(e) == state for e, state in before.items())
        # The device keeps working after the garbage.
        await command(hub, "valve.front_beds", "open", duration=60)


async def test_availability_follows_the_controller(
    tmp_path: Path, mosquitto: Mosquitto, prefix: str, clock: FakeClock, probe: aiomqtt.Client
) -> None:
    port = free_port()

    def controller() -> OpenSprinklerSim:
        return OpenSprinklerSim(mosquitto.host, mosquitto.port, clock=clock, topic=f"{prefix}os", http_port=port)

    config = garden_config(tmp_path, mosquitto, prefix, f"http://127.0.0.1:{port}")
    async with Hub(config, clock=clock) as hub:
        assert not _available(hub, "valve.lawn")  # not answering yet
        async with running(controller()) as first:
            await eventually(lambda: _available(hub, "valve.lawn"))  # it says online: the hub reads it at once
            await command(hub, "valve.lawn", "open", duration=600)
            first.crash()  # power cut: the broker delivers the controller's last will
        await eventually(lambda: not _available(hub, "valve.lawn"))
        assert not _available(hub, "valve.irrigation_main") and not _available(hub, "number.garden_rain_delay")
        failures = hub.counters.get("opensprinkler.unreachable")
        await clock.advance(30)  # polls find nobody answering: still unavailable
        await eventually(lambda: hub.counters.get("opensprinkler.unreachable") > failures)
        assert not _available(hub, "valve.lawn")

        async with running(controller()) as second:  # back after the power cut, with every station off
            await eventually(lambda: _available(hub, "valve.lawn") and value(hub, "valve.lawn") == "closed")
            # Only its MQTT link drops (the broker says offline), but it still answers HTTP: after the
            # next poll its zones can be used again, their states read by polling.
            await probe.publish(f"{second.topic}/availability", b"offline")
            await eventually(lambda: not _available(hub, "valve.lawn"))
            await clock.advance(30)
            await eventually(lambda: _available(hub, "valve.lawn"))
            await command(hub, "valve.lawn", "open", duration=60)


async def test_http_errors_become_clear_command_errors(garden: Garden, sim: OpenSprinklerSim, clock: FakeClock) -> None:
    async with garden(sim) as hub:
        sim.fault = "http500"
        with pytest.raises(
            CommandError, match=r"cannot reach the OpenSprinkler controller at .*: answered /cm with HTTP 500"
        ):
            await command(hub, "valve.lawn", "open", duration=60)
        assert not _available(hub, "valve.lawn")  # a controller that fails is shown unavailable
        sim.fault = None
        await clock.advance(30)  # the next poll finds it answering again
        await eventually(lambda: _available(hub, "valve.lawn"))

        sim.fault = "garbage"
        with pytest.raises(CommandError, match="with something that is not JSON"):
            await command(hub, "valve.lawn", "open", duration=60)
        sim.fault = None
        await clock.advance(30)
        await eventually(lambda: _available(hub, "valve.lawn"))

        sim.password = "changed-at-the-controller"
        with pytest.raises(CommandError, match=r"refused the password \(check 'password'"):
            await command(hub, "valve.lawn", "open", duration=60)
        assert hub.counters.get("opensprinkler.refused") == 1
        assert not any("pw" in params for _, params in sim.requests)


async def test_unreachable_controller_leaves_its_zones_unavailable(
    tmp_path: Path, mosquitto: Mosquitto, prefix: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    config = garden_config(tmp_path, mosquitto, prefix, f"http://127.0.0.1:{free_port()}")
    with caplog.at_level(logging.WARNING):
        async with Hub(config, clock=clock) as hub:
            await eventually(lambda: hub.counters.get("opensprinkler.unreachable") >= 1)
            with pytest.raises(CommandError, match="unavailable"):
                await command(hub, "valve.lawn", "open", duration=60)
            await clock.advance(30)
            await eventually(lambda: hub.counters.get("opensprinkler.unreachable") >= 2)
    lines = [r for r in caplog.records if "cannot reach the OpenSprinkler controller" in r.getMessage()]
    assert len(lines) == 1  # one line when it goes away, not one per poll
    assert "pw=" not in lines[0].getMessage()


@pytest.mark.parametrize(
    ("device", "message"),
    [
        (GARDEN.replace("station: 1,", "station: 0,"), "station 0 is used by more than one zone"),
        (GARDEN.replace("{station: 7, id: valve.irrigation_main}", "{station: 2, id: valve.m}"), "master valve"),
        (GARDEN.replace("duration: 10min", "duration: 2h"), "longer than its max_run of 30 min"),
        (GARDEN.replace("zone: valve.lawn", "zone: valve.lawm"), "'valve.lawm', which is not a zone"),
        (GARDEN.replace("max_run: 45min", "max_run: soon"), "is not a duration"),
        (GARDEN.replace("id: valve.lawn", "id: switch.lawn"), "zone is a valve: write its id as valve.<name>"),
    ],
)
def test_config_mistakes_are_explained(tmp_path: Path, mosquitto: Mosquitto, device: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        garden_config(tmp_path, mosquitto, "c", "http://127.0.0.1:1", device)


def test_password_goes_out_as_md5() -> None:
    from devices.opensprinkler.api import password_hash

    assert password_hash("opendoor") == "a6d82bced638de3def1e9bbb4983225c"  # the documented default's hash
    assert json.dumps(password_hash("")) == '"d41d8cd98f00b204e9800998ecf8427e"'


async def test_the_password_hash_never_reaches_the_log(
    garden: Garden, sim: OpenSprinklerSim, caplog: pytest.LogCaptureFixture
) -> None:
    from devices.opensprinkler.api import password_hash

    with caplog.at_level(logging.DEBUG):
        async with garden(sim) as hub:
            await command(hub, "valve.lawn", "open", duration=60)
            sim.fault = "http500"
            with pytest.raises(CommandError):
                await command(hub, "valve.lawn", "close")
    assert "/cm" in caplog.text  # requests are logged (httpx does so at INFO) …
    assert password_hash("opendoor") not in caplog.text  # … without the password's hash
