"""DSMR P1 smart meters over a real pty: telegrams in, entities out, bad telegrams survived, unplug."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from devices.serial.dsmr import DsmrConfig, DsmrDriver
from devices.serial.pty import VirtualSerialDevice
from devices.sim.dsmr_meter import DsmrMeter
from hub.clock import FakeClock
from tests.conftest import eventually
from tests.serial_support import Harness, advance_until, run_driver, warnings_from
from tests.test_serial_framing import TELEGRAM_V5

# DSMR 2.2 example telegram from ndokter/dsmr_parser (test/example_telegrams.py, TELEGRAM_V2_2):
# no CRC, gas on 0-1:24.3.0 with the reading on the line after it.
TELEGRAM_V2_2 = (
    b"/ISk5\\2MT382-1004\r\n"
    b"\r\n"
    b"0-0:96.1.1(00000000000000)\r\n"
    b"1-0:1.8.1(00001.001*kWh)\r\n"
    b"1-0:1.8.2(00001.001*kWh)\r\n"
    b"1-0:2.8.1(00001.001*kWh)\r\n"
    b"1-0:2.8.2(00001.001*kWh)\r\n"
    b"0-0:96.14.0(0001)\r\n"
    b"1-0:1.7.0(0001.01*kW)\r\n"
    b"1-0:2.7.0(0000.00*kW)\r\n"
    b"0-0:17.0.0(0999.00*kW)\r\n"
    b"0-0:96.3.10(1)\r\n"
    b"0-0:96.13.1()\r\n"
    b"0-0:96.13.0()\r\n"
    b"0-1:24.1.0(3)\r\n"
    b"0-1:96.1.0(000000000000)\r\n"
    b"0-1:24.3.0(161107190000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n"
    b"(00001.001)\r\n"
    b"0-1:24.4.0(1)\r\n"
    b"!\r\n"
)


def meter_config(port: str, **extra: object) -> dict[str, object]:
    return {"type": "dsmr", "name": "meter", "port": port, **extra}


def has_value(hub: Harness, entity_id: str, value: object) -> bool:
    state = hub.store.get(entity_id)
    return state is not None and state.available and state.value == value


async def test_a_dsmr5_reference_telegram_fills_every_entity(tmp_path: Path) -> None:
    async with VirtualSerialDevice(tmp_path / "p1") as device, run_driver(DsmrDriver, meter_config(device.path)) as hub:
        assert not hub.available("sensor.meter_power_delivered")  # nothing heard yet
        await device.write(TELEGRAM_V5)
        await eventually(lambda: has_value(hub, "sensor.meter_power_delivered", 244))
        expected = {
            "power_delivered": 244,  # 00.244 kW → W
            "power_returned": 0,
            "energy_delivered_tariff_1": 4.426,
            "energy_delivered_tariff_2": 2.399,
            "energy_returned_tariff_1": 2.444,
            "energy_returned_tariff_2": 0,
            "tariff": 2,
            "voltage_l1": 230,
            "voltage_l3": 229,
            "current_l1": 0.48,
            "current_l3": 0.86,
            "power_delivered_l1": 70,
            "power_delivered_l2": 32,
            "power_delivered_l3": 142,
            "power_returned_l2": 0,
            "gas": 0.107,
        }
        assert {key: hub.value(f"sensor.meter_{key}") for key in expected} == expected
        gas = hub.state("sensor.meter_gas")
        assert gas.attributes["measured_at"] == "2017-01-02T16:10:05+01:00"
        spec = hub.store.spec("sensor.meter_gas")
        assert spec is not None and (spec.unit, spec.device_class) == ("m³", "gas")


async def test_power_in_kw_when_asked_and_a_single_phase_meter(tmp_path: Path) -> None:
    config = meter_config(str(tmp_path / "p1"), power_unit="kW", phases=1, gas=False)
    async with VirtualSerialDevice(tmp_path / "p1") as device, run_driver(DsmrDriver, config) as hub:
        await device.write(TELEGRAM_V5)
        await eventually(lambda: has_value(hub, "sensor.meter_power_delivered", 0.244))
        spec = hub.store.spec("sensor.meter_power_delivered")
        assert spec is not None and spec.unit == "kW"
        assert "sensor.meter_voltage_l2" not in hub.store.specs
        assert "sensor.meter_gas" not in hub.store.specs


async def test_a_dsmr22_telegram_without_crc_and_its_old_style_gas_line(tmp_path: Path) -> None:
    # DSMR 2.2 runs at 9600 7E1; a pty on this kernel refuses 7-bit/parity settings, so the serial
    # framing is given explicitly as 8N1 here (test_version_sets_the_serial_settings covers 7E1).
    config = meter_config(str(tmp_path / "p1"), dsmr_version=2.2, bytesize=8, parity="none", phases=1)
    async with VirtualSerialDevice(tmp_path / "p1") as device, run_driver(DsmrDriver, config) as hub:
        await device.write(TELEGRAM_V2_2)
        await eventually(lambda: has_value(hub, "sensor.meter_gas", 1.001))
        assert hub.value("sensor.meter_power_delivered") == 1010
        assert hub.value("sensor.meter_tariff") == 1
        assert hub.state("sensor.meter_gas").attributes["measured_at"] == "2016-11-07T19:00:00"


@pytest.mark.parametrize(
    ("version", "framing", "crc"),
    [(2.2, "9600 7E1", False), ("3", "9600 7E1", False), (4, "115200 8N1", True), ("5.0.2", "115200 8N1", True)],
)
def test_version_sets_the_serial_settings(version: object, framing: str, crc: bool) -> None:
    from devices.serial.dsmr import VERSIONS

    config = DsmrConfig.model_validate(meter_config("/dev/ttyUSB0", dsmr_version=version))
    found = VERSIONS[config.dsmr_version]
    settings = config.port_settings(baudrate=found.baudrate, bytesize=found.bytesize, parity=found.parity)
    assert (settings.framing, found.crc) == (framing, crc)


def test_an_unknown_version_is_a_config_error_that_says_what_is_valid() -> None:
    with pytest.raises(ValueError, match=r"use 2\.2, 3, 4 or 5"):
        DsmrConfig.model_validate(meter_config("/dev/ttyUSB0", dsmr_version=6))


async def test_the_simulated_meter_speaks_every_version_the_driver_reads(tmp_path: Path) -> None:
    for version in ("5", "4", "3"):
        link = tmp_path / f"p1-{version}"
        config = meter_config(str(link), dsmr_version=version, bytesize=8, parity="none")
        async with VirtualSerialDevice(link) as device, run_driver(DsmrDriver, config) as hub:
            meter = DsmrMeter(device, clock=hub.clock, version=version)
            meter.readings.delivered_w = [1000.0, 500.0, 250.0]
            await meter.send()
            await eventually(lambda: has_value(hub, "sensor.meter_power_delivered", 1750))
            assert hub.value("sensor.meter_gas") == 0.107


async def test_bad_telegrams_are_dropped_counted_and_logged_once_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with VirtualSerialDevice(tmp_path / "p1") as device, run_driver(DsmrDriver, meter_config(device.path)) as hub:
        meter = DsmrMeter(device, clock=hub.clock)
        await meter.send()
        await eventually(lambda: has_value(hub, "sensor.meter_power_delivered", 244))

        meter.readings.delivered_w = [5000.0, 0.0, 0.0]
        await meter.send(corrupt=True)  # wrong CRC
        await eventually(lambda: hub.counters.get("serial.bad_crc.meter") == 1)
        await device.write(b"\x00\xff\xfe\x13 line noise \x00" * 20)
        await device.write(meter.telegram()[:300])  # cut off: the next telegram starts mid-way
        await meter.send(corrupt=True)
        await eventually(lambda: hub.counters.get("serial.bad_crc.meter") == 2)
        await device.write(b"/" + b"A" * 100_000)  # 100 kB that never ends
        await meter.send(corrupt=True)
        await eventually(lambda: hub.counters.get("serial.bad_crc.meter") == 3)
        assert hub.counters.get("serial.truncated.meter") == 1
        assert hub.counters.get("serial.garbage.meter") == 1
        assert hub.counters.get("serial.too_long.meter") == 1
        assert hub.value("sensor.meter_power_delivered") == 244  # nothing bad got through

        await meter.send()
        await eventually(lambda: has_value(hub, "sensor.meter_power_delivered", 5000))
    lines = warnings_from(caplog)
    assert len(lines) == 6, lines
    assert sum("wrong checksum" in line for line in lines) == 3
    assert sum("longer than 16384 bytes" in line for line in lines) == 1
    assert sum("truncated" in line for line in lines) == 1
    assert sum("not part of a telegram" in line for line in lines) == 1


async def test_unplugged_meter_goes_unavailable_and_comes_back_without_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    link = tmp_path / "usb-FTDI_FT232R_USB_UART_A10KJ3QX-if00-port0"  # stands in for /dev/serial/by-id/…
    async with VirtualSerialDevice(link) as device, run_driver(DsmrDriver, meter_config(str(link)), clock) as hub:
        meter = DsmrMeter(device, clock=clock)
        await meter.send()
        await eventually(lambda: has_value(hub, "sensor.meter_power_delivered", 244))

        device.unplug()
        await eventually(lambda: not hub.available("sensor.meter_power_delivered"))
        assert not link.exists() and not hub.port_open
        await advance_until(clock, lambda: clock.time() > 1_767_225_600 + 100, step=10)  # retries fail quietly

        device.plug()  # a new pty pair behind the same link, as udev re-creates the by-id link
        meter.readings.delivered_w = [300.0, 0.0, 0.0]
        await advance_until(clock, lambda: hub.port_open)
        await meter.send()
        await eventually(lambda: has_value(hub, "sensor.meter_power_delivered", 300))
        assert hub.counters.get("serial.disconnects.meter") == 1
    warnings = warnings_from(caplog)
    assert sum("is gone (unplugged?)" in line for line in warnings) == 1
    assert sum("does not exist" in line for line in warnings) == 1  # said once, not on every retry


async def test_a_meter_that_falls_silent_goes_unavailable_after_the_timeout(tmp_path: Path) -> None:
    clock = FakeClock()
    config = meter_config(str(tmp_path / "p1"), timeout=30)
    async with VirtualSerialDevice(tmp_path / "p1") as device, run_driver(DsmrDriver, config, clock) as hub:
        meter = DsmrMeter(device, clock=clock)
        await meter.send()
        await eventually(lambda: has_value(hub, "sensor.meter_power_delivered", 244))
        await clock.advance(29)
        assert hub.available("sensor.meter_power_delivered")
        await clock.advance(2)
        assert not hub.available("sensor.meter_power_delivered")
        await meter.send()
        await eventually(lambda: hub.available("sensor.meter_power_delivered"))
