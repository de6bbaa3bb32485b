"""Serial devices in the whole hub: configured in a YAML file, found in the registry, supervised,
surviving an unplug of their USB devices while the hub keeps running."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devices.registry import config_models, load_registry
from devices.serial.pty import VirtualSerialDevice
from devices.sim.dsmr_meter import DsmrMeter
from devices.sim.line_board import LineBoard
from hub.clock import FakeClock
from hub.config import load_config
from hub.supervisor import Hub
from tests.broker import Mosquitto
from tests.conftest import eventually, write
from tests.serial_support import advance_until

CONFIG = """
hub:
  data_dir: DATA
mqtt:
  host: 127.0.0.1
  port: MQTT_PORT
  client_id: PREFIX-hub
  base_topic: PREFIX
devices:
  - type: dsmr
    name: meter
    port: DIR/usb-FTDI_FT232R_USB_UART_A10KJ3QX-if00-port0
    dsmr_version: 5
  - type: serial_line
    name: garden_board
    port: DIR/usb-Arduino__www.arduino.cc__0043_75833353035351F0E1A1-if00
    reply: '^(OK|ERR (?P<error>.*))$'
    on_connect: [STATUS]
    entities:
      - id: valve.vegetables
        pattern: '^RELAY 1 (?P<value>ON|OFF)$'
        commands:
          open: "RELAY 1 ON"
          close: "RELAY 1 OFF"
"""


async def test_the_hub_runs_both_serial_drivers_through_an_unplug(
    tmp_path: Path, mosquitto: Mosquitto, prefix: str
) -> None:
    text = CONFIG.replace("DATA", str(tmp_path / "data")).replace("DIR", str(tmp_path))
    text = text.replace("MQTT_PORT", str(mosquitto.port)).replace("PREFIX", prefix)
    config = load_config(write(tmp_path / "hausmeister.yaml", text), config_models(load_registry()))
    clock = FakeClock()
    p1 = VirtualSerialDevice(tmp_path / "usb-FTDI_FT232R_USB_UART_A10KJ3QX-if00-port0")
    usb = VirtualSerialDevice(tmp_path / "usb-Arduino__www.arduino.cc__0043_75833353035351F0E1A1-if00")
    async with p1, usb, asyncio.TaskGroup() as sims:
        meter = DsmrMeter(p1, clock=clock)
        board = LineBoard(usb, clock=clock)
        board_task = sims.create_task(board.run())
        async with Hub(config, clock=clock) as hub:

            def value(entity_id: str) -> object:
                state = hub.state(entity_id)
                return state.value if state is not None and state.available else "unavailable"

            await eventually(lambda: value("valve.vegetables") == "closed")
            assert (await hub.command("valve.vegetables", "open")).value == "open"
            await meter.send()
            await eventually(lambda: value("sensor.meter_power_delivered") == 244)

            p1.unplug()
            usb.unplug()
            await eventually(lambda: value("sensor.meter_gas") == "unavailable")
            await eventually(lambda: value("valve.vegetables") == "unavailable")

            p1.plug()
            usb.plug()  # the board was powered off: its relay is off again
            await advance_until(clock, lambda: value("valve.vegetables") == "closed")
            meter.readings.delivered_w = [1200.0, 0.0, 0.0]
            for _ in range(50):  # a meter just keeps sending; the hub picks up once its port reopened
                if value("sensor.meter_power_delivered") == 1200:
                    break
                await clock.advance(5)
                await meter.send()
                await asyncio.sleep(0.02)
            assert value("sensor.meter_power_delivered") == 1200
            assert value("sensor.meter_gas") == 0.107
            assert hub.counters.get("serial.disconnects.meter") == 1
            assert hub.counters.get("driver.restarts.meter") == 0  # the port reconnected, no restart needed
        board_task.cancel()
