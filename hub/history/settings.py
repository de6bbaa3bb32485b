"""`history:` — what the history store records, how often it writes, and how long it keeps what.

    history:
      commit_interval: 5s        # rows wait in memory this long, then go to disk in one transaction
      keep_raw: 7d               # every reading, as it came
      keep_5min: 90d             # 5-minute min/mean/max/count
      keep_hourly: 5y            # hourly min/mean/max/count
      exclude: ["sensor.*_linkquality"]
      retention:
        sensor.grid_power: {keep_raw: 30d}

Durations are seconds or a number with a unit: `30s`, `15m`, `12h`, `7d`, `2w`, `5y` (365 days),
also combined (`1h30m`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400, "y": 365 * 86_400}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdwy])")
_PATTERN = re.compile(r"^[a-z0-9_*?\[\]!]+(\.[a-z0-9_*?\[\]!]+)?$")


def parse_duration(value: Any) -> Any:
    """Seconds from `90`, `90.5`, `"30s"`, `"7d"` or `"1h30m"`; anything else is left for pydantic to reject."""
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    text = value.strip().lower()
    try:
        return float(text)
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or _PART.sub("", text).strip():
        raise ValueError(
            f"'{value}' is not a duration: write seconds or a number with a unit, e.g. 30s, 15m, 12h, 7d, 5y"
        )
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class _Section(BaseModel):
    # The rules of `hub.config.Strict` (unknown keys are errors); repeated here because hub.config
    # imports this module to build `HubConfig`, so this module cannot import hub.config.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_patterns(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        if not _PATTERN.match(pattern):
            raise ValueError(
                f"'{pattern}' is not an entity id or pattern: write e.g. 'sensor.garden_temperature' or 'sensor.*'"
            )
    return patterns


class RetentionOverride(_Section):
    """How long one entity (or every entity matching a pattern) keeps each resolution; unset keys use the defaults."""

    keep_raw: Duration | None = None
    keep_5min: Duration | None = None
    keep_hourly: Duration | None = None


class HistorySettings(_Section):
    """`history:` — the sensor history in SQLite."""

    enabled: bool = True
    file: Path = Path("history.db")
    commit_interval: Annotated[float, BeforeValidator(parse_duration), Field(gt=0, le=3600)] = 5.0
    max_buffer: int = Field(default=100_000, ge=100)
    keep_raw: Duration = 7 * 86_400
    keep_5min: Duration = 90 * 86_400
    keep_hourly: Duration = 5 * 365 * 86_400
    include: list[str] = []
    exclude: list[str] = []
    retention: dict[str, RetentionOverride] = {}

    @field_validator("include", "exclude")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        return _check_patterns(value)

    @field_validator("retention")
    @classmethod
    def _retention_keys(cls, value: dict[str, RetentionOverride]) -> dict[str, RetentionOverride]:
        _check_patterns(list(value))
        return value

    def path(self, data_dir: Path) -> Path:
        """The database file: `file` taken relative to the data directory (an absolute path stays as it is)."""
        return data_dir / self.file
