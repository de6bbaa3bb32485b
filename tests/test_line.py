"""Line-protocol serial devices over a real pty: a DIY irrigation board with four relays and a soil
moisture sensor, described in YAML; states flow in, commands flow out and are confirmed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from devices.serial.line import SerialLineDriver
from devices.serial.line_config import SerialLineConfig
from devices.serial.pty import VirtualSerialDevice
from devices.sim.line_board import LineBoard
from hub.clock import FakeClock
from hub.errors import CommandError, CommandTimeout, ConfigError
from hub.validation import validate_model
from hub.yamlfile import load_text
from tests.conftest import eventually
from tests.serial_support import Harness, advance_until, run_driver, warnings_from

BOARD_YAML = r"""
type: serial_line
name: irrigation_board
port: PORT
baudrate: 115200
reply: '^(OK|ERR (?P<error>.*))$'
on_connect: [STATUS]
entities:
  - id: valve.bed_1
    name: Bed 1
    vars: {n: 1}
    pattern: '^RELAY 1 (?P<value>ON|OFF)$'
    value_map: {"ON": open, "OFF": closed}
    commands: &valve
      open: "RELAY {{ n }} ON{% if duration %} {{ duration | int }}{% endif %}"
      close: "RELAY {{ n }} OFF"
  - id: valve.bed_2
    vars: {n: 2}
    pattern: '^RELAY 2 (?P<value>ON|OFF)$'
    commands: *valve
  - id: switch.pump
    vars: {n: 3}
    pattern: '^RELAY 3 (ON|OFF)$'
    commands:
      turn_on: "RELAY {{ n }} ON"
      turn_off: "RELAY {{ n }} OFF"
  - id: switch.lamp
    commands:
      turn_on: "RELAY 4 ON"
      turn_off: "RELAY 4 OFF"
  - id: switch.ghost
    commands:
      turn_on: "RELAY 7 ON"
      turn_off: "RELAY 7 OFF"
  - id: sensor.bed_soil_moisture
    pattern: '^MOISTURE (?P<raw>\d+)$'
    value_template: "{{ ((1023 - raw | int) / 10.23) | round(1) }}"
    unit: "%"
    device_class: moisture
"""


def board_config(port: str, **changes: Any) -> dict[str, Any]:
    config = dict(load_text(BOARD_YAML.replace("PORT", port), "board.yaml"))
    config.update(changes)
    return config


@asynccontextmanager
async def board_and_hub(
    tmp_path: Path, clock: FakeClock | None = None, *, silent: bool = False, **changes: Any
) -> AsyncIterator[tuple[Harness, LineBoard, VirtualSerialDevice]]:
    clock = clock or FakeClock()
    link = tmp_path / "usb-Arduino__www.arduino.cc__0043_75833353035351F0E1A1-if00"
    async with VirtualSerialDevice(link) as device, asyncio.TaskGroup() as group:
        board = LineBoard(device, clock=clock, interval=60, silent=silent)
        sim = group.create_task(board.run())
        async with run_driver(SerialLineDriver, board_config(str(link), **changes), clock) as hub:
            yield hub, board, device
        sim.cancel()


async def test_state_flows_in_when_the_port_opens(tmp_path: Path) -> None:
    async with board_and_hub(tmp_path) as (hub, board, _):
        await eventually(lambda: hub.value("sensor.bed_soil_moisture") is not None)
        assert board.received[0] == "STATUS"  # asked on connect
        assert hub.value("sensor.bed_soil_moisture") == 49.2  # raw 520 through the value template
        assert hub.value("valve.bed_1") == "closed"  # value_map
        assert hub.value("valve.bed_2") == "closed"  # ON/OFF understood for a valve without a map
        assert hub.value("switch.pump") == "off"  # the first group when there is no 'value' group
        assert hub.available("switch.lamp") and hub.value("switch.lamp") is None  # no state reported

        board.moisture_raw = 310
        await advance_until(hub.clock, lambda: hub.value("sensor.bed_soil_moisture") == 69.7, step=60)


async def test_commands_flow_out_and_are_confirmed_by_the_board(tmp_path: Path) -> None:
    async with board_and_hub(tmp_path) as (hub, board, _):
        await eventually(lambda: hub.value("valve.bed_1") == "closed")
        state = await hub.command("valve.bed_1", "open")
        assert state.value == "open"
        assert board.relays[0] is True
        assert board.received[-1] == "RELAY 1 ON"

        assert (await hub.command("switch.pump", "toggle")).value == "on"
        assert (await hub.command("switch.pump", "toggle")).value == "off"
        assert (await hub.command("valve.bed_1", "close")).value == "closed"
        assert board.received[-3:] == ["RELAY 3 ON", "RELAY 3 OFF", "RELAY 1 OFF"]


async def test_a_timed_run_is_closed_by_the_board_itself(tmp_path: Path) -> None:
    async with board_and_hub(tmp_path) as (hub, board, _):
        await eventually(lambda: hub.value("valve.bed_2") == "closed")
        await hub.command("valve.bed_2", "open", duration=600)
        assert board.received[-1] == "RELAY 2 ON 600"
        await hub.clock.advance(599)
        assert hub.value("valve.bed_2") == "open"
        await advance_until(hub.clock, lambda: hub.value("valve.bed_2") == "closed")


async def test_an_entity_without_a_pattern_takes_the_state_once_the_board_says_ok(tmp_path: Path) -> None:
    async with board_and_hub(tmp_path) as (hub, board, _):
        state = await hub.command("switch.lamp", "turn_on")
        assert state.value == "on"
        assert board.relays[3] is True


async def test_a_refusal_shows_the_boards_words(tmp_path: Path) -> None:
    async with board_and_hub(tmp_path) as (hub, _, _):
        with pytest.raises(CommandError, match="refused 'RELAY 7 ON': no relay 7"):
            await hub.command("switch.ghost", "turn_on")
        assert hub.value("switch.ghost") is None


async def test_a_board_that_does_not_answer_times_out(tmp_path: Path) -> None:
    async with board_and_hub(tmp_path, silent=True, reply_timeout=2) as (hub, board, _):
        command = asyncio.ensure_future(hub.command("switch.pump", "turn_on"))
        await advance_until(hub.clock, command.done)  # first STATUS goes unanswered, then the command
        assert board.received == ["STATUS", "RELAY 3 ON"]
        with pytest.raises(CommandTimeout, match=r"did not answer 'RELAY 3 ON' within 2 s"):
            await command


async def test_bad_lines_survive_with_one_log_line_and_a_counter_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with board_and_hub(tmp_path) as (hub, _, device):
        await eventually(lambda: hub.value("switch.pump") == "off")
        await device.write(b"x" * 100_000)  # 100 kB without a newline
        await device.write(b" still the same line\r\n")
        await device.write(b"\x00\xff\xfe\x80 garbage\r\n")  # bytes no entity uses
        await device.write(b"RELAY 3 MAYBE\r\n")  # not a state a switch can be in
        await device.write(b"RELAY 3 ON\r\n")
        await eventually(lambda: hub.value("switch.pump") == "on")
        assert hub.counters.get("serial.line_too_long.irrigation_board") == 1
        assert hub.counters.get("serial.unmatched.irrigation_board") >= 1
        assert hub.counters.get("serial.bad_line.irrigation_board") == 0  # 'MAYBE' does not match (ON|OFF)
        await device.write(b"RELAY 1 ON\r\n")
        await eventually(lambda: hub.value("valve.bed_1") == "open")  # and the port still works
    lines = warnings_from(caplog)
    assert len(lines) == 1, lines
    assert "longer than 1024 bytes" in lines[0]


async def test_a_reported_value_the_kind_cannot_have_is_refused_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    changes = {"entities": [{"id": "switch.pump", "pattern": r"^RELAY 3 (\w+)$", "commands": {
        "turn_on": "RELAY 3 ON", "turn_off": "RELAY 3 OFF"}}]}  # fmt: skip
    async with board_and_hub(tmp_path, **changes) as (hub, _, device):
        await eventually(lambda: hub.value("switch.pump") == "off")
        await device.write(b"RELAY 3 MAYBE\r\n")
        await eventually(lambda: hub.counters.get("serial.bad_line.irrigation_board") == 1)
        assert hub.value("switch.pump") == "off"
    lines = warnings_from(caplog)
    assert len(lines) == 1
    assert "'MAYBE' for switch.pump, which is not a switch state" in lines[0]


async def test_unplugged_board_goes_unavailable_and_comes_back_without_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    async with board_and_hub(tmp_path, clock) as (hub, board, device):
        await hub.command("valve.bed_1", "open")
        device.unplug()
        await eventually(lambda: not hub.available("valve.bed_1"))
        with pytest.raises(CommandError, match="unavailable"):
            await hub.command("valve.bed_1", "close")

        device.plug()  # the board restarts: its relays start off, and the hub asks again
        await advance_until(clock, lambda: hub.port_open)
        await eventually(lambda: hub.available("valve.bed_1") and hub.value("valve.bed_1") == "closed")
        assert board.received.count("STATUS") == 2
        assert (await hub.command("valve.bed_1", "open")).value == "open"


def test_config_errors_name_the_line_and_say_what_is_wrong() -> None:
    text = BOARD_YAML.replace("PORT", "/dev/ttyACM0").replace('close: "RELAY {{ n }} OFF"', "shut: x")
    text = text.replace("'^RELAY 1 (?P<value>ON|OFF)$'", "'^RELAY 1 (ON'")
    root = load_text(text, "board.yaml")
    with pytest.raises(ConfigError) as caught:
        validate_model(SerialLineConfig, root, root=root, filename="board.yaml")
    messages = [f"{issue.line}: {issue.message}" for issue in caught.value.issues]
    assert any(m.startswith("12: ") and "not a valid regular expression" in m for m in messages), messages
    assert any("a valve has no command 'shut'" in m for m in messages), messages
