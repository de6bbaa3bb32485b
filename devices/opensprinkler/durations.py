"""Durations in the config file, written the way people write them: `45min`, `1h30min`, `90s`, `600`.

A bare number is seconds. Units: `s`/`sec`, `min`/`m`, `h`, `d`; parts add up (`1h 30min`).
`hh:mm:ss` and `mm:ss` are accepted too, as the OpenSprinkler app shows run times that way.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60, "minutes": 60}
_UNITS |= {"h": 3600, "hour": 3600, "hours": 3600, "d": 86_400, "day": 86_400, "days": 86_400}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})$")


def parse_duration(value: Any) -> float:
    """Seconds from a number or a text like `45min`; a ValueError says what was wrong."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or a text like '45min', not true/false")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError("a duration must be a number of seconds or a text like '45min'")
    text = value.strip().lower()
    if clock := _CLOCK.match(text):
        hours, minutes, seconds = (int(part) if part else 0 for part in clock.groups())
        return float(hours * 3600 + minutes * 60 + seconds)
    return _sum_of_parts(value, text)


def _sum_of_parts(original: str, text: str) -> float:
    total = 0.0
    position = 0
    for match in _PART.finditer(text):
        if match.start() != position or match.group(2) not in _UNITS:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    else:
        if position == len(text) and position > 0:
            return total
    raise ValueError(f"'{original}' is not a duration: write it like 90s, 45min, 1h30min or 00:45:00")


def format_duration(seconds: float) -> str:
    """A duration as a person reads it: `45 min`, `1 h 30 min`, `20 s`."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes:
        parts.append(f"{minutes} min")
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


Duration = Annotated[float, BeforeValidator(parse_duration)]
