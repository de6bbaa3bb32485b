"""Where and in which time zone the hub is: local time for time triggers, sunrise and sunset for sun ones.

The time zone comes from `hub: time_zone` (an IANA name such as `Europe/Berlin`); without it, the
system's zone. Sun times need `hub: latitude` and `longitude`, computed with `astral`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from astral import Observer
from astral.sun import sunrise, sunset

from hub.config import HubSection

SunEvent = Literal["sunrise", "sunset"]


def zone_named(name: str) -> ZoneInfo:
    """The time zone with this IANA name, or `ValueError` saying how to write one."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{name}' (write it like Europe/Berlin or America/New_York)") from None


def system_zone() -> tzinfo:
    """The system's time zone: $TZ, /etc/timezone or the /etc/localtime link; UTC if none says."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    timezone_file = Path("/etc/timezone")
    if timezone_file.is_file():
        candidates.append(timezone_file.read_text(encoding="utf-8").strip())
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        candidates.append(str(localtime.readlink()).partition("zoneinfo/")[2])
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return UTC


@dataclass(frozen=True)
class Location:
    """The hub's time zone and, if configured, its place on earth."""

    zone: tzinfo
    latitude: float | None = None
    longitude: float | None = None
    elevation: float = 0.0

    @classmethod
    def from_settings(cls, section: HubSection) -> Location:
        """The location the `hub:` section describes (raises `ValueError` for an unknown time zone)."""
        zone = zone_named(section.time_zone) if section.time_zone else system_zone()
        return cls(zone, section.latitude, section.longitude, section.elevation)

    @property
    def knows_position(self) -> bool:
        """Whether latitude and longitude are configured (needed for the sun)."""
        return self.latitude is not None and self.longitude is not None

    def local(self, timestamp: float) -> datetime:
        """Epoch seconds as an aware local datetime."""
        return datetime.fromtimestamp(timestamp, self.zone)

    def at(self, day: date, clock_time: time) -> float:
        """Epoch seconds of a local wall-clock time on a day (a time skipped by DST moves forward)."""
        return datetime.combine(day, clock_time, self.zone).timestamp()

    def sun(self, event: SunEvent, day: date) -> float | None:
        """Epoch seconds of sunrise or sunset on a local day; None where the sun does not rise or set."""
        if self.latitude is None or self.longitude is None:
            raise ValueError("sunrise and sunset need 'latitude' and 'longitude' in the hub: section")
        observer = Observer(self.latitude, self.longitude, self.elevation)
        try:
            found = (sunrise if event == "sunrise" else sunset)(observer, day, tzinfo=self.zone)
        except ValueError:
            return None  # polar day or night: no such event today
        return found.timestamp()

    def next_sun(self, event: SunEvent, offset: float, after: float) -> float:
        """The first sun event (plus `offset` seconds) later than `after`."""
        day = self.local(after).date() - timedelta(days=1)
        for _ in range(400):
            found = self.sun(event, day)
            if found is not None and found + offset > after:
                return found + offset
            day += timedelta(days=1)
        raise ValueError(f"there is no {event} at this location within a year")
