"""Durations as people write them: `90`, `"00:10:00"`, `"10:00"`, `"10min"`, `"1h30m"`, `{minutes: 10}`.

A leading `-` makes a duration negative (sunset offsets: `"-00:30:00"`, `"-30min"`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}
_KEYS = {"days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0, "milliseconds": 0.001}
_CLOCK = re.compile(r"^(\d+):(\d{1,2})(?::(\d{1,2}(?:\.\d+)?))?$")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_HINT = 'write seconds (90), "HH:MM:SS" ("00:10:00"), "10min", "2h", "30s" or {minutes: 10}'


def parse_duration(value: Any) -> float:
    """Seconds for a duration in any accepted form; `ValueError` with a plain message otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration: {_HINT}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Mapping):
        return _from_mapping(value)
    if isinstance(value, str):
        text = value.strip().lower()
        sign = -1.0 if text.startswith("-") else 1.0
        seconds = _from_text(text.lstrip("+-").strip())
        if seconds is None:
            raise ValueError(f"'{value}' is not a duration: {_HINT}")
        return sign * seconds
    raise ValueError(f"{value!r} is not a duration: {_HINT}")


def _from_mapping(value: Mapping[Any, Any]) -> float:
    total = 0.0
    for key, amount in value.items():
        if key not in _KEYS:
            raise ValueError(f"unknown duration key '{key}' (use {', '.join(_KEYS)})")
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise ValueError(f"'{key}' in a duration must be a number, not {amount!r}")
        total += amount * _KEYS[key]
    return total


def _from_text(text: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    clock = _CLOCK.match(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        return int(hours) * 3600.0 + int(minutes) * 60.0 + float(seconds or 0)
    total = 0.0
    position = 0
    for match in _PART.finditer(text):
        if text[position : match.start()].strip() or match.group(2) not in _UNITS:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    return total if position and not text[position:].strip() else None


def format_duration(seconds: float) -> str:
    """A short, readable duration: `15 min`, `2 h 5 min`, `30 s`, `0.4 s`."""
    if seconds < 10 and seconds != int(seconds):
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(abs(whole), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    text = " ".join(p for p in parts if p) or "0 s"
    return f"-{text}" if whole < 0 else text


def format_offset(seconds: float) -> str:
    """An offset for descriptions: ` +10 min`, ` -30 min`, or nothing for none."""
    if not seconds:
        return ""
    return f" {'+' if seconds > 0 else ''}{format_duration(seconds)}"
