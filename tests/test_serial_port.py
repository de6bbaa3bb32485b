"""The serial port itself: real ptys and a socket:// bridge, reconnect on the fake clock, clear errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devices.payload import BadPayload
from devices.serial.config import PortSettings, SerialDeviceConfig
from devices.serial.framing import LineFramer
from devices.serial.port import SerialLink, SerialPort, describe_open_error
from devices.serial.pty import VirtualSerialDevice
from hub.clock import FakeClock
from hub.counters import Counters
from hub.errors import DriverError
from tests.conftest import eventually
from tests.serial_support import advance_until


class Recorder:
    """What a driver would see: frames and the port coming and going."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.status: list[bool] = []

    def frame(self, data: bytes) -> None:
        if data == b"boom":
            raise BadPayload("is not something this device says")
        self.frames.append(data)


def make_port(url: str, recorder: Recorder, clock: FakeClock, counters: Counters) -> SerialPort:
    return SerialPort(
        PortSettings(url, baudrate=115200, reconnect_max=8),
        LineFramer(64),
        recorder.frame,
        name="bridge",
        clock=clock,
        counters=counters,
        on_status=recorder.status.append,
    )


async def test_a_ser2net_style_socket_bridge_reconnects_after_the_far_end_hangs_up() -> None:
    connections: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await connections.put((reader, writer))

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port_number = server.sockets[0].getsockname()[1]
    clock, counters, recorder = FakeClock(), Counters(), Recorder()
    bridge = make_port(f"socket://127.0.0.1:{port_number}", recorder, clock, counters)
    async with server, bridge as port, asyncio.TaskGroup() as group:
        runner = group.create_task(port.run())
        reader, writer = await asyncio.wait_for(connections.get(), 5)
        writer.write(b"hello\r\nboom\r\nworld\n")
        await eventually(lambda: recorder.frames == [b"hello", b"world"])
        assert counters.get("serial.bad_input.bridge") == 1
        await port.write(b"PING\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"PING\n"

        writer.close()  # the bridge drops the connection
        await eventually(lambda: recorder.status == [True, False])
        with pytest.raises(DriverError, match="not connected"):
            await port.write(b"lost\n")
        await advance_until(clock, lambda: recorder.status == [True, False, True])
        _, writer = await asyncio.wait_for(connections.get(), 5)
        writer.write(b"again\n")
        await eventually(lambda: recorder.frames[-1] == b"again")
        writer.close()
        runner.cancel()


async def test_a_port_that_is_not_there_says_where_to_look_and_keeps_trying(tmp_path: Path) -> None:
    clock, counters, recorder = FakeClock(), Counters(), Recorder()
    link = tmp_path / "usb-FTDI_FT232R_USB_UART_A10KJ3QX-if00-port0"
    with pytest.raises(DriverError, match=r"does not exist: is the device plugged in\? .*/dev/serial/by-id/"):
        async with SerialLink(PortSettings(str(link)), recorder.frame):
            pass
    async with make_port(str(link), recorder, clock, counters) as port, asyncio.TaskGroup() as group:
        runner = group.create_task(port.run())
        await clock.advance(30)
        async with VirtualSerialDevice(link) as device:  # plugged in after the hub started
            await advance_until(clock, lambda: port.connected)
            await device.write(b"late but here\n")
            await eventually(lambda: recorder.frames == [b"late but here"])
        runner.cancel()


def test_permission_problems_point_at_the_dialout_group() -> None:
    error = PermissionError(13, "Permission denied")
    message = describe_open_error(PortSettings("/dev/ttyUSB0"), error)
    assert "dialout" in message and "usermod -aG dialout" in message


async def test_a_port_refuses_to_be_opened_twice() -> None:
    port = make_port("/dev/null", Recorder(), FakeClock(), Counters())
    async with port:
        with pytest.raises(RuntimeError, match="already open"):
            await port.__aenter__()
    with pytest.raises(RuntimeError, match="closed"):
        await port.__aenter__()


def test_the_port_key_wants_a_device_path_or_a_socket_url() -> None:
    base = {"type": "x", "name": "meter"}
    assert SerialDeviceConfig.model_validate({**base, "port": "socket://192.168.1.20:2001"}).port
    with pytest.raises(ValueError, match=r"give a device path such as /dev/serial/by-id/"):
        SerialDeviceConfig.model_validate({**base, "port": "COM3"})
