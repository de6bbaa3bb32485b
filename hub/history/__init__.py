"""Sensor history: every state change recorded in SQLite in batches, downsampled, queried for charts.

`HistoryStore` is the resource the hub opens; `HistorySettings` is the `history:` config section;
`HistoryReader`, `Series`, `Point` and `Resolution` are what charts and exports read.
"""

from hub.history.policy import Policy, Retention
from hub.history.query import HistoryReader, Point, Resolution, Series
from hub.history.settings import HistorySettings, RetentionOverride, parse_duration
from hub.history.store import HistoryStore

__all__ = [
    "HistoryReader",
    "HistorySettings",
    "HistoryStore",
    "Point",
    "Policy",
    "Resolution",
    "Retention",
    "RetentionOverride",
    "Series",
    "parse_duration",
]
