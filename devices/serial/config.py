"""The serial-port part of a device's configuration, shared by every serial driver.

    port: /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10KJ3QX-if00-port0
    baudrate: 115200        # each driver has its own default
    bytesize: 8
    parity: none            # none, even, odd, mark, space
    stopbits: 1
    reconnect_max: 30       # seconds between attempts while the device is unplugged, at most

`port` is a device path (best the stable `/dev/serial/by-id/...` link, which keeps its name when
the adapter moves to another USB socket) or `socket://host:port` for a serial-to-network bridge
such as ser2net.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from hub.config import DeviceConfig

Parity = Literal["none", "even", "odd", "mark", "space"]

# pyserial spells parity with one letter.
_PARITY_LETTERS: dict[str, str] = {"none": "N", "even": "E", "odd": "O", "mark": "M", "space": "S"}


@dataclass(frozen=True)
class PortSettings:
    """Where and how to open a serial port, and how patiently to wait for it to come back."""

    url: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: Parity = "none"
    stopbits: float = 1
    reconnect_min: float = 1.0
    reconnect_max: float = 30.0

    def __post_init__(self) -> None:
        if self.reconnect_min <= 0 or self.reconnect_max < self.reconnect_min:
            raise ValueError("reconnect delays must be positive, the maximum at least the minimum")

    @property
    def framing(self) -> str:
        """The usual short form, e.g. '115200 8N1'."""
        return f"{self.baudrate} {self.bytesize}{_PARITY_LETTERS[self.parity]}{self.stopbits:g}"

    def pyserial_options(self) -> dict[str, object]:
        """Keyword arguments for `serial.serial_for_url`."""
        return {
            "baudrate": self.baudrate,
            "bytesize": self.bytesize,
            "parity": _PARITY_LETTERS[self.parity],
            "stopbits": self.stopbits,
        }


class SerialDeviceConfig(DeviceConfig):
    """Base of the config of a device on a serial port; `None` means the driver's default."""

    port: str
    baudrate: int | None = Field(default=None, gt=0)
    bytesize: Literal[5, 6, 7, 8] | None = None
    parity: Parity | None = None
    stopbits: float | None = None
    reconnect_max: float = Field(default=30.0, ge=1.0, le=3600.0)

    @field_validator("stopbits")
    @classmethod
    def _stopbits(cls, value: float | None) -> float | None:
        if value is not None and value not in (1, 1.5, 2):
            raise ValueError("stopbits must be 1, 1.5 or 2")
        return value

    @field_validator("port")
    @classmethod
    def _port(cls, value: str) -> str:
        if value.startswith("/") or value.startswith("socket://"):
            return value
        raise ValueError(
            f"'{value}' is not a serial port: give a device path such as /dev/serial/by-id/usb-… "
            "(or socket://host:port for a serial-to-network bridge)"
        )

    def port_settings(self, *, baudrate: int, bytesize: int = 8, parity: Parity = "none") -> PortSettings:
        """The port settings: what the file says, else the driver's defaults given here."""
        return PortSettings(
            url=self.port,
            baudrate=self.baudrate or baudrate,
            bytesize=self.bytesize or bytesize,
            parity=self.parity or parity,
            stopbits=self.stopbits or 1,
            reconnect_max=self.reconnect_max,
        )
