"""Serial devices: a port that survives unplugging, framing (lines, DSMR telegrams), and drivers.

Public API: `SerialPort` and `SerialLink` (the transport), `PortSettings` and `SerialDeviceConfig`
(the `port:` keys), `LineFramer` and `TelegramFramer`, the drivers `DsmrDriver` (`type: dsmr`)
and `SerialLineDriver` (`type: serial_line`), and `VirtualSerialDevice`, a pty pair that plays
a USB serial adapter for simulators and tests.
"""

from devices.serial.config import PortSettings, SerialDeviceConfig
from devices.serial.dsmr import DsmrConfig, DsmrDriver
from devices.serial.framing import Dropped, LineFramer
from devices.serial.line import SerialLineDriver
from devices.serial.line_config import SerialLineConfig
from devices.serial.port import SerialLink, SerialPort
from devices.serial.pty import DeviceUnplugged, VirtualSerialDevice
from devices.serial.telegram import TelegramFramer

__all__ = [
    "DeviceUnplugged",
    "Dropped",
    "DsmrConfig",
    "DsmrDriver",
    "LineFramer",
    "PortSettings",
    "SerialDeviceConfig",
    "SerialLineConfig",
    "SerialLineDriver",
    "SerialLink",
    "SerialPort",
    "TelegramFramer",
    "VirtualSerialDevice",
]
