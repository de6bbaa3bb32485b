"""`hausmeister history export ENTITY_ID --since 7d -c CONFIG`: one entity's history as CSV on stdout.

Raw resolution gives `time,value` (text states as they are, `unavailable` where the device was
unreachable); 5-minute and hourly give `time,mean,min,max,count`. Times are ISO 8601 in the hub's
time zone (`hub.time_zone`, else the computer's). It reads the file while the hub keeps writing it.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
import time
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from hub.config import Config
from hub.errors import HubError
from hub.history.policy import Policy
from hub.history.query import HistoryReader, Point, Resolution
from hub.history.schema import connect, scalar
from hub.history.settings import parse_duration
from hub.validation import suggest


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `history export` to the `hausmeister` command."""
    history = commands.add_parser("history", help="read the recorded sensor history")
    actions = history.add_subparsers(dest="history_command", required=True)
    export = actions.add_parser("export", help="write one entity's history as CSV to stdout")
    export.add_argument("entity_id", help="e.g. sensor.garden_temperature")
    export.add_argument("-c", "--config", type=Path, required=True, help="the configuration file")
    export.add_argument("--since", default="24h", help="how far back (24h, 7d) or a date/time (2026-05-01T06:00)")
    export.add_argument("--until", default=None, help="end (a date/time, or how long ago); default now")
    export.add_argument(
        "--resolution", choices=[r.value for r in Resolution], default="auto", help="raw, 5min, hour or auto"
    )


def run(args: argparse.Namespace, config: Config) -> int:
    """Carry out `history export`; returns the exit code."""
    zone = _zone(config.settings.hub.time_zone)
    now = time.time()
    start = parse_time(args.since, now, zone)
    end = now if args.until is None else parse_time(args.until, now, zone)
    try:
        resolution = Resolution(args.resolution)
        asyncio.run(
            export_csv(config, args.entity_id, start=start, end=end, resolution=resolution, out=sys.stdout, now=now)
        )
    except BrokenPipeError:
        # `… | head` closed the pipe: that is the reader's choice, not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


async def export_csv(
    config: Config, entity_id: str, *, start: float, end: float, resolution: Resolution, out: TextIO, now: float
) -> None:
    """Write the CSV for `entity_id` between `start` and `end` (epoch seconds) to `out`."""
    settings = config.settings.history
    db = await connect(settings.path(config.data_dir), create=False)
    try:
        if await scalar(db, "SELECT id FROM entities WHERE entity_id = ?", (entity_id,)) is None:
            raise HubError(await _unknown(db, entity_id))
        reader = HistoryReader(db, Policy(settings))
        if resolution is Resolution.AUTO:
            resolution = reader.choose(entity_id, start, end, now)
        zone = _zone(config.settings.hub.time_zone)
        writer = csv.writer(out, lineterminator="\n")
        raw = resolution is Resolution.RAW
        writer.writerow(["time", "value"] if raw else ["time", "mean", "min", "max", "count"])
        async for point in reader.points(entity_id, start, end, resolution):
            writer.writerow(_row(point, zone, raw))
        out.flush()
    finally:
        await db.close()


def _row(point: Point, zone: tzinfo | None, raw: bool) -> list[Any]:
    stamp = datetime.fromtimestamp(point.time, zone).astimezone(zone).isoformat(timespec="milliseconds")
    value = "unavailable" if point.value is None else _number(point.value)
    if raw or point.min is None:
        return [stamp, value] if raw else [stamp, value, "", "", ""]
    return [stamp, value, _number(point.min), _number(point.max), point.count]


def _number(value: float | str | None) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return "" if value is None else value


async def _unknown(db: Any, entity_id: str) -> str:
    async with db.execute("SELECT entity_id FROM entities") as cursor:
        known = [str(row[0]) for row in await cursor.fetchall()]
    hint = suggest(entity_id, known)
    if hint:
        return f"there is no history for '{entity_id}' — did you mean '{hint}'?"
    return f"there is no history for '{entity_id}' ({len(known)} entities have history)"


def parse_time(text: str, now: float, zone: tzinfo | None) -> float:
    """Epoch seconds from a duration back from `now` (`24h`, `7d`) or an ISO date/time (in `zone` unless it says)."""
    try:
        return now - float(parse_duration(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise HubError(f"'{text}' is neither a duration (24h, 7d) nor a date/time (2026-05-01T06:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone) if zone is not None else moment.astimezone()
    return moment.timestamp()


def _zone(name: str | None) -> tzinfo | None:
    return ZoneInfo(name) if name else None
