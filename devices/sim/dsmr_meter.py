"""A DSMR P1 smart meter writing telegrams into a virtual serial port, as a real meter does.

The telegram layout follows the P1 companion standard and the example telegrams of
ndokter/dsmr_parser: DSMR 4/5 with `1-3:0.2.8` version line, timestamps `YYMMDDhhmmssW|S`, the
gas reading on `0-1:24.2.1` and a CRC-16/ARC after `!`; DSMR 2.2/3 without CRC, the gas reading
on `0-1:24.3.0` with its value on the next line. A meter writes whether or not anyone listens;
this one waits while it is unplugged.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from devices.serial.pty import DeviceUnplugged, VirtualSerialDevice
from devices.serial.telegram import crc16
from hub.clock import Clock, SystemClock

CRLF = "\r\n"


def _meter_zone() -> timezone | ZoneInfo:
    try:
        return ZoneInfo("Europe/Amsterdam")
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=1))


@dataclass
class Readings:
    """What the meter measures; powers in W per phase, energies in kWh, gas in m³."""

    delivered_w: list[float] = field(default_factory=lambda: [70.0, 32.0, 142.0])
    returned_w: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    voltage: list[float] = field(default_factory=lambda: [230.0, 230.0, 229.0])
    energy_delivered: list[float] = field(default_factory=lambda: [4.426, 2.399])  # tariff 1, tariff 2
    energy_returned: list[float] = field(default_factory=lambda: [2.444, 0.0])
    tariff: int = 2
    gas_m3: float = 0.107
    gas_flow_m3_per_hour: float = 0.2


class DsmrMeter:
    """A simulated smart meter on a `VirtualSerialDevice`, one telegram every `interval` seconds."""

    def __init__(
        self,
        device: VirtualSerialDevice,
        *,
        clock: Clock | None = None,
        version: str = "5",
        interval: float = 10.0,
        phases: int = 3,
        corrupt: bool = False,
    ) -> None:
        self.device = device
        self.clock = clock or SystemClock()
        self.version = version
        self.interval = interval
        self.phases = phases
        self.corrupt = corrupt  # True: every telegram goes out with a wrong checksum
        self.readings = Readings()
        self.sent = 0

    async def run(self) -> None:
        """Write a telegram every `interval` seconds (waiting while unplugged) until cancelled."""
        while True:
            await self.device.wait_plugged()
            with contextlib.suppress(DeviceUnplugged):
                await self.send()
            await self.clock.sleep(self.interval)
            self.tick(self.interval)

    async def send(self, *, corrupt: bool | None = None) -> bytes:
        """Write one telegram now and return it."""
        telegram = self.telegram(corrupt=self.corrupt if corrupt is None else corrupt)
        await self.device.write(telegram)
        self.sent += 1
        return telegram

    def tick(self, seconds: float) -> None:
        """Let the counters run for `seconds` at the current power."""
        r = self.readings
        r.energy_delivered[r.tariff - 1] += sum(r.delivered_w[: self.phases]) * seconds / 3_600_000
        r.energy_returned[r.tariff - 1] += sum(r.returned_w[: self.phases]) * seconds / 3_600_000
        r.gas_m3 += r.gas_flow_m3_per_hour * seconds / 3600

    def telegram(self, *, corrupt: bool = False) -> bytes:
        """The telegram for the current readings, with a valid CRC unless `corrupt`."""
        if self.version in ("2.2", "3"):
            body = self._telegram_v2()
            return (body + "!" + CRLF).encode("ascii")
        body = self._telegram_v5() + "!"
        crc = crc16(body.encode("ascii"))
        if corrupt:
            crc ^= 0x0101
        return f"{body}{crc:04X}{CRLF}".encode("ascii")

    def _stamp(self, moment: datetime, *, flag: bool = True) -> str:
        local = moment.astimezone(_meter_zone())
        summer = bool(local.dst())
        return local.strftime("%y%m%d%H%M%S") + (("S" if summer else "W") if flag else "")

    def _telegram_v5(self) -> str:
        r = self.readings
        now = self.clock.now()
        gas_time = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
        lines = [
            "/ISk5\\2MT382-1000",
            "",
            "1-3:0.2.8(42)" if self.version == "4" else "1-3:0.2.8(50)",
            f"0-0:1.0.0({self._stamp(now)})",
            "0-0:96.1.1(4B384547303034303436333935353037)",
            f"1-0:1.8.1({r.energy_delivered[0]:010.3f}*kWh)",
            f"1-0:1.8.2({r.energy_delivered[1]:010.3f}*kWh)",
            f"1-0:2.8.1({r.energy_returned[0]:010.3f}*kWh)",
            f"1-0:2.8.2({r.energy_returned[1]:010.3f}*kWh)",
            f"0-0:96.14.0({r.tariff:04d})",
            f"1-0:1.7.0({sum(r.delivered_w[: self.phases]) / 1000:06.3f}*kW)",
            f"1-0:2.7.0({sum(r.returned_w[: self.phases]) / 1000:06.3f}*kW)",
            "0-0:96.7.21(00013)",
            "0-0:96.7.9(00000)",
            "1-0:99.97.0(0)(0-0:96.7.19)",
            "0-0:96.13.0()",
        ]
        phases = range(self.phases)
        codes = (32, 52, 72)
        lines += [f"1-0:{codes[p]}.7.0({r.voltage[p]:06.1f}*V)" for p in phases]
        lines += [f"1-0:{codes[p] - 1}.7.0({self._amps(p):03d}*A)" for p in phases]
        lines += [f"1-0:{codes[p] - 11}.7.0({r.delivered_w[p] / 1000:06.3f}*kW)" for p in phases]
        lines += [f"1-0:{codes[p] - 10}.7.0({r.returned_w[p] / 1000:06.3f}*kW)" for p in phases]
        lines += [
            "0-1:24.1.0(003)",
            "0-1:96.1.0(3232323241424344313233343536373839)",
            f"0-1:24.2.1({self._stamp(gas_time)})({r.gas_m3:09.3f}*m3)",
        ]
        return CRLF.join(lines) + CRLF

    def _amps(self, phase: int) -> int:
        r = self.readings
        return round((r.delivered_w[phase] + r.returned_w[phase]) / r.voltage[phase])

    def _telegram_v2(self) -> str:
        r = self.readings
        hour = self.clock.now().replace(minute=0, second=0, microsecond=0)
        lines = [
            "/ISk5\\2MT382-1004",
            "",
            "0-0:96.1.1(00000000000000)",
            f"1-0:1.8.1({r.energy_delivered[0]:09.3f}*kWh)",
            f"1-0:1.8.2({r.energy_delivered[1]:09.3f}*kWh)",
            f"1-0:2.8.1({r.energy_returned[0]:09.3f}*kWh)",
            f"1-0:2.8.2({r.energy_returned[1]:09.3f}*kWh)",
            f"0-0:96.14.0({r.tariff:04d})",
            f"1-0:1.7.0({sum(r.delivered_w[: self.phases]) / 1000:07.2f}*kW)",
            f"1-0:2.7.0({sum(r.returned_w[: self.phases]) / 1000:07.2f}*kW)",
            "0-0:17.0.0(0999.00*kW)",
            "0-0:96.3.10(1)",
            "0-0:96.13.1()",
            "0-0:96.13.0()",
            "0-1:24.1.0(3)",
            "0-1:96.1.0(000000000000)",
            f"0-1:24.3.0({self._stamp(hour, flag=False)})(00)(60)(1)(0-1:24.2.1)(m3)",
            f"({r.gas_m3:09.3f})",
            "0-1:24.4.0(1)",
        ]
        return CRLF.join(lines) + CRLF
