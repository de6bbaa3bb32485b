"""The sensor history: recorded from the bus in batches, downsampled, queried, exported, crash-safe.

Every test uses a real SQLite file in tmp_path and a FakeClock; the only real waiting is for the
SQLite thread (`eventually`) and for the subprocesses of the CLI and kill -9 tests.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from devices.registry import config_models, load_registry
from hub.bus import EventBus
from hub.clock import FakeClock
from hub.config import Config, load_config
from hub.counters import Counters
from hub.entity import EntitySpec
from hub.errors import ConfigError
from hub.events import StateChanged
from hub.history import HistorySettings, HistoryStore, Point, Policy, Resolution
from hub.history.recorder import Recorder
from hub.state import State
from hub.store import StateStore
from hub.supervisor import Hub
from tests.broker import Mosquitto
from tests.conftest import eventually, write

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
START = 1_767_225_600.0  # 2026-01-01 00:00 UTC, FakeClock's default
DAY = 86_400.0


class House:
    """A bus, a state store and a history store on one fake clock: what the hub wires together."""

    def __init__(self, tmp_path: Path, clock: FakeClock | None = None, **settings: Any) -> None:
        self.clock = clock or FakeClock()
        self.counters = Counters()
        self.bus = EventBus(self.counters)
        self.states = StateStore(self.bus, self.clock)
        self.path = tmp_path / "history.db"
        self.history = HistoryStore(HistorySettings.model_validate(settings), self.path, self.bus, self.clock)

    def set(self, entity_id: str, value: Any = None, *, available: bool | None = None, **attributes: Any) -> None:
        """What a driver does: announce the entity (once) and report a state."""
        if self.states.spec(entity_id) is None:
            self.states.add(EntitySpec(entity_id))
        if value is None:
            self.states.set(entity_id, attributes=attributes or None, available=available)
        else:
            self.states.set(entity_id, value, attributes=attributes or None, available=available)

    def reading(self, entity_id: str, value: float, at: float) -> None:
        """A reading stamped `at` (epoch seconds) published on the bus, as the state store would."""
        self.bus.publish(StateChanged(at, entity_id, State(entity_id, None), State(entity_id, value, last_updated=at)))

    def rows(self, table: str, where: str = "1") -> int:
        """Rows on disk, read by a connection of its own (what another process would see)."""
        with sqlite3.connect(self.path) as db:
            return int(db.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0])


@pytest.fixture
async def house(tmp_path: Path) -> AsyncIterator[House]:
    house = House(tmp_path)
    async with house.history:
        yield house


async def run_writer(house: House) -> asyncio.Task[None]:
    task = asyncio.create_task(house.history.run())
    await eventually(lambda: house.clock.pending >= 1)  # the maintenance loop waits for the next hour
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def values(points: tuple[Point, ...]) -> list[float | str | None]:
    return [p.value for p in points]


# --- recording --------------------------------------------------------------------------------------
async def test_records_numbers_text_states_and_availability_from_the_bus(house: House) -> None:
    house.set("sensor.bed1_soil_moisture", 38)
    await house.clock.advance(1)
    house.set("sensor.bed1_soil_moisture", 36.5)
    house.set("sensor.bed1_soil_moisture", battery=80)  # attributes only: not a new reading
    house.set("lawn_mower.garden", "mowing")
    await house.clock.advance(1)
    house.set("sensor.bed1_soil_moisture", available=False)
    house.set("lawn_mower.garden", "returning")
    await house.clock.advance(1)
    house.set("sensor.bed1_soil_moisture", available=True)  # back, still 36.5: recorded as the line resumes

    assert await house.history.flush() == 6
    soil = await house.history.series("sensor.bed1_soil_moisture", START - 60)
    assert soil.resolution is Resolution.RAW
    assert [(p.time - START, p.value) for p in soil.points] == [(0, 38.0), (1, 36.5), (2, None), (3, 36.5)]
    mower = await house.history.series("lawn_mower.garden", START - 60)
    assert values(mower.points) == ["mowing", "returning"]


async def test_two_readings_in_one_millisecond_are_both_kept(house: House) -> None:
    for value in (1.0, 2.0, 3.0):
        house.reading("sensor.burst", value, START)
    await house.history.flush()
    series = await house.history.series("sensor.burst", START - 1, START + 1)
    assert values(series.points) == [1.0, 2.0, 3.0]


async def test_rows_wait_in_memory_for_the_commit_interval_then_go_in_one_batch(house: House) -> None:
    writer = await run_writer(house)
    for value in range(10):
        house.set("sensor.power", value + 100)
    await house.clock.advance(4.9)
    assert house.clock.pending == 2  # the writer still waits for its deadline (and maintenance for the hour)
    assert house.rows("samples") == 0
    assert len(house.history.recorder) == 10

    await house.clock.advance(0.2)
    await eventually(lambda: house.counters.get("history.written") == 10)
    assert house.rows("samples") == 10
    await stop(writer)


async def test_a_burst_that_half_fills_the_buffer_is_written_at_once(tmp_path: Path) -> None:
    house = House(tmp_path, max_buffer=1000)
    async with house.history:
        writer = await run_writer(house)
        house.reading("sensor.flood", -1, START)
        await eventually(lambda: house.clock.pending == 2)  # the writer waits for the end of its interval
        for n in range(599):  # then a burst, within the same interval
            house.reading("sensor.flood", n, START + n / 1000)
        await eventually(lambda: house.counters.get("history.written") == 600)
        assert house.clock.time() == START  # no time has passed: the writer did not wait for its interval
        assert house.counters.get("history.dropped") == 0
        await stop(writer)


async def test_closing_writes_what_is_still_buffered(tmp_path: Path) -> None:
    house = House(tmp_path, commit_interval=3600)
    async with house.history:
        house.set("sensor.power", 120)
        house.set("switch.compressor", "on")
        assert house.rows("samples") == 0
    assert house.rows("samples") == 1
    assert house.rows("states") == 1


async def test_a_full_buffer_drops_new_readings_and_counts_them(tmp_path: Path) -> None:
    house = House(tmp_path, max_buffer=100)
    async with house.history:
        for n in range(150):
            house.reading("sensor.flood", n, START + n)
        assert len(house.history.recorder) == 100
        assert house.counters.get("history.dropped") == 50
        await house.history.flush()
        house.reading("sensor.flood", 1.5, START + 1000)  # room again after the write
    assert house.rows("samples") == 101
    assert house.counters.get("history.dropped") == 50


async def test_include_and_exclude_patterns_choose_what_is_recorded(tmp_path: Path) -> None:
    house = House(tmp_path, include=["sensor.*", "binary_sensor.rain"], exclude=["sensor.*_linkquality"])
    async with house.history:
        for entity_id in ("sensor.soil", "sensor.soil_linkquality", "binary_sensor.rain", "binary_sensor.door"):
            house.set(entity_id, "on" if entity_id.startswith("binary") else 42)
        house.set("switch.pump", "on")
    with sqlite3.connect(house.path) as db:
        recorded = {row[0] for row in db.execute("SELECT entity_id FROM entities")}
    assert recorded == {"sensor.soil", "binary_sensor.rain"}


def test_a_batch_that_could_not_be_written_goes_back_into_the_buffer_as_far_as_it_fits() -> None:
    counters = Counters()
    recorder = Recorder(Policy(HistorySettings()), counters, max_buffer=100)
    bus = EventBus(counters)
    bus.listen(StateChanged, callback=recorder.on_event)
    for n in range(80):
        bus.publish(StateChanged(START + n, "sensor.power", None, State("sensor.power", float(n))))
    failed = recorder.take()  # what the writer had in hand when the disk said no
    for n in range(50):
        bus.publish(StateChanged(START + 100 + n, "sensor.power", None, State("sensor.power", float(n))))
    recorder.put_back(failed, now=START + 200)
    batch = recorder.take()
    assert len(batch) == 100
    assert [row[2] for row in batch.numeric[:3]] == [0.0, 1.0, 2.0]  # oldest first
    assert counters.get("history.dropped") == 30


# --- downsampling and retention -------------------------------------------------------------------------
async def three_days_of_minutes(house: House, *entity_ids: str) -> None:
    """One reading a minute for three days; the value is the minute of the hour (0..59)."""
    for minute in range(3 * 24 * 60):
        for entity_id in entity_ids:
            house.reading(entity_id, minute % 60, START + minute * 60)
    await house.history.flush()


async def test_maintenance_aggregates_then_expires_each_resolution(tmp_path: Path) -> None:
    house = House(
        tmp_path,
        keep_raw="1d",
        keep_5min="2d",
        keep_hourly="30d",
        retention={"sensor.precious": {"keep_raw": "30d"}},
    )
    async with house.history:
        await three_days_of_minutes(house, "sensor.soil", "sensor.precious")
        await house.clock.set_time(START + 3 * DAY)
        await house.history.maintain()

        soil = "entity = (SELECT id FROM entities WHERE entity_id = 'sensor.soil')"
        precious = "entity = (SELECT id FROM entities WHERE entity_id = 'sensor.precious')"
        assert house.rows("samples", soil) == 24 * 60  # the last day
        assert house.rows("samples", precious) == 3 * 24 * 60  # its own retention
        assert house.rows("agg_5min", soil) == 2 * 24 * 12
        assert house.rows("agg_hourly", soil) == 3 * 24

        five = await house.history.series("sensor.soil", START + 2 * DAY, START + 2 * DAY + 600, Resolution.FIVE_MIN)
        assert five.points == (
            Point(START + 2 * DAY, 2.0, 0.0, 4.0, 5),
            Point(START + 2 * DAY + 300, 7.0, 5.0, 9.0, 5),
        )
        hourly = await house.history.series("sensor.soil", START, START + 2 * 3600, Resolution.HOURLY)
        assert hourly.points == (Point(START, 29.5, 0.0, 59.0, 60), Point(START + 3600, 29.5, 0.0, 59.0, 60))

        await house.clock.set_time(START + 40 * DAY)
        await house.history.maintain()
        assert house.rows("samples") == 0
        assert house.rows("agg_5min") == 0
        assert house.rows("agg_hourly") == 0


async def test_maintenance_runs_by_the_clock_every_hour(house: House) -> None:
    writer = await run_writer(house)
    for minute in range(60):
        house.reading("sensor.soil", minute, START + minute * 60)
    await house.clock.set_time(START + 3600 + 61)
    await eventually(lambda: house.rows("agg_hourly") == 1)
    assert house.rows("agg_5min") == 12
    await stop(writer)


async def test_a_hub_that_was_off_catches_up_hour_by_hour(house: House) -> None:
    for hour in (0, 30, 31):  # a gap of more than a day
        house.reading("sensor.soil", 10.0, START + hour * 3600)
    await house.history.flush()
    await house.clock.set_time(START + 40 * 3600)
    await house.history.maintain()
    assert house.rows("agg_hourly") == 3


# --- queries --------------------------------------------------------------------------------------------
async def test_auto_resolution_follows_the_span_and_what_is_still_kept(tmp_path: Path) -> None:
    house = House(tmp_path, keep_raw="1d", keep_5min="2d")
    async with house.history:
        await three_days_of_minutes(house, "sensor.soil")
        now = START + 3 * DAY
        await house.clock.set_time(now)
        await house.history.maintain()
        history = house.history

        last_hour = await history.series("sensor.soil", now - 3600)
        assert last_hour.resolution is Resolution.RAW
        assert len(last_hour.points) == 60 + 1  # plus the reading in effect at the start
        two_days = await history.series("sensor.soil", now - 2 * DAY)
        assert two_days.resolution is Resolution.FIVE_MIN
        assert len(two_days.points) == 2 * 24 * 12
        three_days = await history.series("sensor.soil", now - 3 * DAY)
        assert three_days.resolution is Resolution.HOURLY
        assert len(three_days.points) == 3 * 24
        old_hour = await history.series("sensor.soil", now - 1.5 * DAY, now - 1.5 * DAY + 3600)
        assert old_hour.resolution is Resolution.FIVE_MIN  # raw is gone there


async def test_aggregated_series_reach_up_to_now_before_maintenance_ran(house: House) -> None:
    for minute in range(10):
        house.reading("sensor.soil", minute, START + minute * 60)
    house.set("sensor.soil", available=False)
    await house.history.flush()
    series = await house.history.series("sensor.soil", START, START + 600, Resolution.FIVE_MIN)
    assert series.points == (
        Point(START, 2.0, 0.0, 4.0, 5),
        Point(START, None),  # text states and availability stay raw at every resolution
        Point(START + 300, 7.0, 5.0, 9.0, 5),
    )


async def test_a_switch_chart_starts_with_the_state_it_was_in(house: House) -> None:
    house.set("switch.pump", "on")
    await house.clock.advance(3600)
    house.set("switch.pump", "off")
    await house.history.flush()
    series = await house.history.series("switch.pump", START + 1800, START + 7200)
    assert [(p.time - START, p.value) for p in series.points] == [(0, "on"), (3600, "off")]


async def test_an_entity_without_history_has_an_empty_series(house: House) -> None:
    series = await house.history.series("sensor.nothing", START - DAY)
    assert series.points == ()


# --- configuration and the hub -------------------------------------------------------------------------
def load(tmp_path: Path, text: str) -> Config:
    return load_config(write(tmp_path / "config.yaml", text), config_models(load_registry()))


def test_history_config_takes_durations_patterns_and_overrides(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "history:\n  commit_interval: 2s\n  keep_raw: 1h30m\n  keep_hourly: 5y\n  exclude: ['sensor.*_rssi']\n"
        "  retention:\n    sensor.grid_power: {keep_raw: 30d}\n",
    )
    history = config.settings.history
    assert (history.commit_interval, history.keep_raw, history.keep_hourly) == (2, 5400, 5 * 365 * DAY)
    assert history.retention["sensor.grid_power"].keep_raw == 30 * DAY
    assert history.path(config.data_dir) == config.data_dir / "history.db"


def test_history_config_errors_point_at_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "history:\n  keep_raw: 7 days\n  comit_interval: 5\n  include: ['Sensor Temp']\n")
    messages = [str(issue) for issue in caught.value.issues]
    assert any(":2:" in m and "'7 days' is not a duration" in m for m in messages), messages
    assert any(":3:" in m and "did you mean 'commit_interval'" in m for m in messages), messages
    assert any(":4:" in m and "'Sensor Temp' is not an entity id or pattern" in m for m in messages), messages


async def test_the_hub_records_history_and_writes_it_on_shutdown(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = load(
        tmp_path,
        f"hub:\n  data_dir: data\nmqtt:\n  host: {mosquitto.host}\n  port: {mosquitto.port}\n"
        f"  client_id: hm-{tmp_path.name}\nhistory:\n  commit_interval: 10s\n",
    )
    clock = FakeClock()
    async with Hub(config, clock=clock) as hub:
        hub.store.add(EntitySpec("sensor.garden_temperature"))
        hub.store.set("sensor.garden_temperature", 17.5)
        await clock.advance(10)
        await eventually(lambda: hub.counters.get("history.written") == 1)
        hub.store.set("sensor.garden_temperature", 18.0)
    with sqlite3.connect(config.data_dir / "history.db") as db:
        assert [row[0] for row in db.execute("SELECT value FROM samples ORDER BY ts")] == [17.5, 18.0]


async def test_history_can_be_switched_off(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = load(
        tmp_path,
        f"hub:\n  data_dir: data\nmqtt:\n  host: {mosquitto.host}\n  port: {mosquitto.port}\n"
        f"  client_id: hm-{tmp_path.name}\nhistory:\n  enabled: false\n",
    )
    async with Hub(config, clock=FakeClock()) as hub:
        assert hub.history is None
    assert not (config.data_dir / "history.db").exists()


# --- CSV export through the real command ------------------------------------------------------------------
def hausmeister(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], env=ENV, capture_output=True, text=True, timeout=30, check=False
    )


async def test_history_export_writes_csv_to_stdout(tmp_path: Path) -> None:
    config = write(tmp_path / "config.yaml", "hub:\n  data_dir: data\n  time_zone: Europe/Berlin\n")
    now = time.time()
    house = House(tmp_path / "data", FakeClock(now - 3 * 3600))
    async with house.history:
        for minute in range(10):
            house.reading("sensor.garden_temperature", 20 + minute / 4, now - 3600 + minute * 60)
        gone = State("sensor.garden_temperature", 1, available=False)
        house.bus.publish(StateChanged(now - 60, "sensor.garden_temperature", None, gone))

    result = hausmeister("history", "export", "sensor.garden_temperature", "--since", "2h", "-c", str(config))
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["time", "value"]
    assert [row[1] for row in rows[1:]] == [str(20 + m / 4) if m % 4 else str(20 + m // 4) for m in range(10)] + [
        "unavailable"
    ]
    assert rows[1][0].endswith(("+01:00", "+02:00"))  # Berlin time, as set in the config

    result = hausmeister(
        "history", "export", "sensor.garden_temperature", "--since", "2h", "--resolution", "5min", "-c", str(config)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "time,mean,min,max,count"

    result = hausmeister("history", "export", "sensor.garden_temprature", "-c", str(config))
    assert result.returncode == 2
    assert "did you mean 'sensor.garden_temperature'?" in result.stderr


# --- crash safety and size --------------------------------------------------------------------------------
CHILD = """
import asyncio, sys, time
from pathlib import Path
from hub.bus import EventBus
from hub.clock import SystemClock
from hub.events import StateChanged
from hub.history import HistorySettings, HistoryStore
from hub.state import State

async def main():
    bus = EventBus()
    history = HistoryStore(HistorySettings(), Path(sys.argv[1]), bus, SystemClock())
    start = time.time() - 86400
    async with history:
        n = 0
        while True:
            for _ in range(2000):
                n += 1
                entity = f"sensor.s{n % 50}"
                bus.publish(StateChanged(start + n / 10, entity, None, State(entity, n * 0.5)))
            print(await history.flush() and history.counters.get("history.written"), flush=True)
            if n % 10000 == 0:
                await history.maintain()

asyncio.run(main())
"""


def test_kill_9_while_writing_leaves_a_sound_database_with_every_committed_row(tmp_path: Path) -> None:
    path = tmp_path / "history.db"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    committed = 0
    try:
        while committed < 60_000:
            line = child.stdout.readline()
            assert line, child.stderr.read() if child.stderr else "the writer died"
            committed = int(line)
    finally:
        child.send_signal(signal.SIGKILL)  # most likely in the middle of the next transaction
        child.wait(10)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM samples").fetchone()[0] >= committed


async def test_bytes_on_disk_per_raw_sample(tmp_path: Path) -> None:
    house = House(tmp_path, max_buffer=200_000)
    entities = [f"sensor.room{n}_temperature" for n in range(100)]
    writing = 0.0
    async with house.history:
        began = time.perf_counter()
        for step in range(1000):  # 100 sensors, every 10 s, realistic two-decimal readings
            for n, entity_id in enumerate(entities):
                house.reading(entity_id, round(18 + n / 10 + (step % 37) * 0.13, 2), START + step * 10 + n * 0.01)
            if step % 100 == 99:  # 10 000 rows per batch, like a 1 000 readings/s house with a 10 s interval
                flushing = time.perf_counter()
                await house.history.flush()
                writing += time.perf_counter() - flushing
        elapsed = time.perf_counter() - began
    with sqlite3.connect(house.path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        samples = db.execute("SELECT count(*) FROM samples").fetchone()[0]
    size = house.path.stat().st_size
    print(
        f"\nhistory: {size / samples:.1f} bytes per raw sample ({samples} samples, {size} bytes); "
        f"written at {samples / writing:,.0f} samples/s, recorded and written at {samples / elapsed:,.0f} samples/s"
    )
    assert samples == 100_000
    assert size / samples < 60
