"""DSMR P1 smart meters (Netherlands, Belgium, Luxembourg): `type: dsmr`.

- type: dsmr
  name: meter
  port: /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10KJ3QX-if00-port0
  dsmr_version: 5       # 2.2 and 3: 9600 7E1, no CRC; 4 and 5: 115200 8N1 with CRC-16
  power_unit: W         # or kW, as the meter sends it
  phases: 3             # 1 for a single-phase connection
  gas: true             # a gas meter on the M-Bus
  timeout: 60           # seconds without a valid telegram before the entities go unavailable

Entities (`sensor.<name>_…`), OBIS codes as in the P1 companion standard (checked against
ndokter/dsmr_parser `obis_references.py`):

| entity suffix | OBIS | unit |
|---|---|---|
| power_delivered / power_returned | 1-0:1.7.0 / 1-0:2.7.0 | W (or kW) |
| energy_delivered_tariff_1 / _2 | 1-0:1.8.1 / 1-0:1.8.2 | kWh |
| energy_returned_tariff_1 / _2 | 1-0:2.8.1 / 1-0:2.8.2 | kWh |
| tariff | 0-0:96.14.0 | 1 or 2 |
| voltage_l1..3 | 1-0:32.7.0, 52.7.0, 72.7.0 | V |
| current_l1..3 | 1-0:31.7.0, 51.7.0, 71.7.0 | A |
| power_delivered_l1..3 / power_returned_l1..3 | 1-0:21.7.0, 41.7.0, 61.7.0 / 22.7.0, 42.7.0, 62.7.0 | W (or kW) |
| gas | 0-n:24.2.1 (DSMR 4/5), 0-n:24.2.3 (Belgium), 0-n:24.3.0 (DSMR 2.2/3) | m³, attribute `measured_at` |

"Delivered" is energy the grid delivers to the house, "returned" what solar panels feed back.
"""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Literal, Self

from pydantic import Field, field_validator

from devices.base import Driver
from devices.payload import BadPayload
from devices.serial.config import Parity, SerialDeviceConfig
from devices.serial.port import SerialPort
from devices.serial.telegram import Telegram, TelegramFramer, parse
from hub.commands import Command
from hub.entity import EntitySpec
from hub.errors import CommandError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Version:
    """The serial settings of a DSMR version and whether its telegrams carry a CRC."""

    baudrate: int
    bytesize: int
    parity: Parity
    crc: bool


VERSIONS: dict[str, Version] = {
    "2.2": Version(9600, 7, "even", crc=False),
    "3": Version(9600, 7, "even", crc=False),
    "4": Version(115200, 8, "none", crc=True),
    "5": Version(115200, 8, "none", crc=True),
}


class DsmrConfig(SerialDeviceConfig):
    """`type: dsmr` — a smart meter's P1 port."""

    type: Literal["dsmr"]
    dsmr_version: str = "5"
    power_unit: Literal["W", "kW"] = "W"
    phases: Literal[1, 3] = 3
    gas: bool = True
    timeout: float = Field(default=60.0, gt=0)

    @field_validator("dsmr_version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> str:
        text = str(value).strip().lower().removeprefix("v")
        major = text[:1]
        if text in ("2", "2.2") or (major in ("3", "4", "5") and re.fullmatch(r"\d(\.\d+)*[a-z]?", text)):
            return "2.2" if major == "2" else major
        raise ValueError(f"'{value}' is not a DSMR version: use 2.2, 3, 4 or 5 (printed on the meter or in its manual)")

    def entity_ids(self) -> list[tuple[str, tuple[str | int, ...]]]:
        """The entities this meter will have, for the duplicate check."""
        return [(entity_id(self, measure), ("name",)) for measure in measures(self)]


@dataclass(frozen=True)
class Measure:
    """One value of the telegram: entity suffix, display name, OBIS code (C.D.E, channel 0) and quantity."""

    key: str
    name: str
    obis: str
    quantity: Literal["power", "energy", "voltage", "current", "tariff", "gas"]


_BASE = (
    Measure("power_delivered", "Power delivered", "1.7.0", "power"),
    Measure("power_returned", "Power returned", "2.7.0", "power"),
    Measure("energy_delivered_tariff_1", "Energy delivered, tariff 1", "1.8.1", "energy"),
    Measure("energy_delivered_tariff_2", "Energy delivered, tariff 2", "1.8.2", "energy"),
    Measure("energy_returned_tariff_1", "Energy returned, tariff 1", "2.8.1", "energy"),
    Measure("energy_returned_tariff_2", "Energy returned, tariff 2", "2.8.2", "energy"),
    Measure("tariff", "Current tariff", "96.14.0", "tariff"),
)
_PHASE_CODES = {1: ("32.7.0", "31.7.0", "21.7.0", "22.7.0"), 2: ("52.7.0", "51.7.0", "41.7.0", "42.7.0"),
                3: ("72.7.0", "71.7.0", "61.7.0", "62.7.0")}  # fmt: skip
GAS = Measure("gas", "Gas", "24.2.1", "gas")

_DEVICE_CLASS = {"power": "power", "energy": "energy", "voltage": "voltage", "current": "current", "gas": "gas"}
# Factors from the unit in the telegram to the hub's unit of each quantity (kW for power, then scaled).
_FACTORS: dict[str, dict[str, Decimal]] = {
    "power": {"kw": Decimal(1), "w": Decimal("0.001")},
    "energy": {"kwh": Decimal(1), "wh": Decimal("0.001")},
    "voltage": {"v": Decimal(1)},
    "current": {"a": Decimal(1)},
    "gas": {"m3": Decimal(1)},
}


def measures(config: DsmrConfig) -> list[Measure]:
    """The values this meter's entities show, per its config."""
    found = list(_BASE)
    for phase in range(1, config.phases + 1):
        volts, amps, delivered, returned = _PHASE_CODES[phase]
        found += [
            Measure(f"voltage_l{phase}", f"Voltage L{phase}", volts, "voltage"),
            Measure(f"current_l{phase}", f"Current L{phase}", amps, "current"),
            Measure(f"power_delivered_l{phase}", f"Power delivered L{phase}", delivered, "power"),
            Measure(f"power_returned_l{phase}", f"Power returned L{phase}", returned, "power"),
        ]
    if config.gas:
        found.append(GAS)
    return found


def entity_id(config: DsmrConfig, measure: Measure) -> str:
    """`sensor.<device name>_<measure>`."""
    return f"sensor.{config.name}_{measure.key}"


def unit_of(config: DsmrConfig, measure: Measure) -> str | None:
    """The unit the hub shows for a measure."""
    units = {"power": config.power_unit, "energy": "kWh", "voltage": "V", "current": "A", "gas": "m³"}
    return units.get(measure.quantity)


def number(text: str) -> tuple[Decimal, str]:
    """`'000004.426*kWh'` → (Decimal('4.426'), 'kwh'); raise `BadPayload` if it is not a number."""
    digits, _, unit = text.partition("*")
    try:
        return Decimal(digits), unit.strip().lower()
    except InvalidOperation:
        raise BadPayload(f"has a value that is not a number: {text!r}") from None


def plain(value: Decimal) -> int | float:
    """A Decimal as the hub stores numbers: whole numbers as int, others as float."""
    return int(value) if value == value.to_integral_value() else float(value)


def convert(config: DsmrConfig, measure: Measure, text: str) -> int | float:
    """The value of one COSEM object in the hub's unit for the measure."""
    value, unit = number(text)
    if measure.quantity == "tariff":
        return int(value)
    factors = _FACTORS[measure.quantity]
    factor = factors.get(unit) if unit else Decimal(1)
    if factor is None:
        raise BadPayload(f"sends {measure.name.lower()} in '{unit}', expected {' or '.join(factors)}")
    value *= factor
    if measure.quantity == "power" and config.power_unit == "W":
        value *= 1000
    return plain(value.normalize())


def timestamp(text: str) -> str | None:
    """`YYMMDDhhmmss` + `W` (winter, UTC+1) or `S` (summer, UTC+2) as ISO 8601; None if malformed.

    The flag makes the offset explicit for the CET zone of the countries using DSMR; DSMR 2.2/3
    timestamps have no flag and stay local time without an offset.
    """
    match = re.fullmatch(r"(\d{12})([SW]?)", text.strip())
    if not match:
        return None
    try:
        moment = datetime.strptime(match[1], "%y%m%d%H%M%S")
    except ValueError:
        return None
    if match[2]:
        moment = moment.replace(tzinfo=timezone(timedelta(hours=2 if match[2] == "S" else 1)))
    return moment.isoformat()


def gas_reading(telegram: Telegram) -> tuple[str, str | None] | None:
    """The gas meter's reading text (`'00000.107*m3'`) and its timestamp, if the telegram has one.

    Gas sits on an M-Bus channel 0-1 … 0-4; a channel whose device type (24.1.0) is 3 is the gas
    meter, else the first channel reading cubic metres is taken.
    """
    readings: list[tuple[bool, str, str | None]] = []
    for channel in ("0-1", "0-2", "0-3", "0-4"):
        found = _channel_reading(telegram, channel)
        if found is not None:
            kind = telegram.objects.get(f"{channel}:24.1.0", ("",))[0]
            readings.append((kind.lstrip("0") == "3", *found))
    readings.sort(key=lambda r: not r[0])
    for _is_gas, text, when in readings:
        if text.lower().endswith("*m3"):
            return text, when
    return None


def _channel_reading(telegram: Telegram, channel: str) -> tuple[str, str | None] | None:
    for code in ("24.2.1", "24.2.3"):
        values = telegram.objects.get(f"{channel}:{code}")
        if values and len(values) >= 2:
            return values[-1], timestamp(values[0])
    old = telegram.objects.get(f"{channel}:24.3.0")  # DSMR 2.2/3: (time)(..)(..)(..)(obis)(unit) then (value)
    if old and len(old) >= 7:
        return f"{old[6]}*{old[5]}", timestamp(old[0])
    return None


class DsmrDriver(Driver[DsmrConfig]):
    """Reads telegrams from the P1 port and keeps the meter's sensor entities up to date."""

    config_model = DsmrConfig

    async def __aenter__(self) -> Self:
        config = self.config
        self._measures = measures(config)
        for measure in self._measures:
            spec = EntitySpec(
                entity_id(config, measure), measure.name, unit_of(config, measure), _DEVICE_CLASS.get(measure.quantity)
            )
            self.context.add_entity(spec)
        self.context.set_available(False)  # until the first good telegram
        version = VERSIONS[config.dsmr_version]
        settings = config.port_settings(baudrate=version.baudrate, bytesize=version.bytesize, parity=version.parity)
        self.port = SerialPort(
            settings,
            TelegramFramer(check_crc=version.crc),
            self._on_telegram,
            name=self.context.name,
            clock=self.context.clock,
            counters=self.context.counters,
            on_status=self._on_status,
        )
        self._stack = AsyncExitStack()
        await self._stack.enter_async_context(self.port)
        self._last_good = self.context.clock.time()
        self._good = asyncio.Event()
        self._warned: set[str] = set()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    async def run(self) -> None:
        """Read the port (reopening it when unplugged) and watch for a meter that fell silent."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.port.run(), name=f"serial:{self.context.name}")
            group.create_task(self._watch_silence(), name=f"dsmr-silence:{self.context.name}")

    async def execute(self, command: Command) -> None:
        """A meter takes no commands."""
        raise CommandError(f"'{command.entity_id}' is a smart meter value; it takes no commands")

    def _on_status(self, connected: bool) -> None:
        if not connected:
            self.context.set_available(False)

    def _on_telegram(self, frame: bytes) -> None:
        telegram = parse(frame)
        self.context.set_available(True)
        for measure in self._measures:
            try:
                self._update(telegram, measure)
            except BadPayload as exc:
                self.context.counters.inc(f"serial.bad_value.{self.context.name}")
                if measure.key not in self._warned:  # a meter repeats this every telegram: say it once
                    self._warned.add(measure.key)
                    log.warning("Serial device '%s': the meter %s (further ones not logged)", self.context.name, exc)
        self._last_good = self.context.clock.time()
        self._good.set()

    def _update(self, telegram: Telegram, measure: Measure) -> None:
        eid = entity_id(self.config, measure)
        if measure is GAS:
            reading = gas_reading(telegram)
            if reading is not None:
                text, when = reading
                self.context.set_state(eid, convert(self.config, measure, text), attributes={"measured_at": when})
            return
        values = telegram.objects.get(f"1-0:{measure.obis}") or telegram.objects.get(f"0-0:{measure.obis}")
        if values:
            self.context.set_state(eid, convert(self.config, measure, values[0]))

    async def _watch_silence(self) -> None:
        """Entities go unavailable when no good telegram came for `timeout` seconds."""
        clock = self.context.clock
        while True:
            await clock.sleep_until(self._last_good + self.config.timeout)
            if clock.time() < self._last_good + self.config.timeout:
                continue  # a telegram came meanwhile
            if self.port.connected:
                log.warning(
                    "Serial device '%s': no valid telegram for %g s; entities unavailable until telegrams "
                    "arrive again (check the P1 cable and dsmr_version)",
                    self.context.name,
                    self.config.timeout,
                )
            self.context.set_available(False)
            self._good.clear()
            await self._good.wait()
