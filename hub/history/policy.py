"""Which entities are recorded and how long each keeps its raw samples and aggregates.

An entity is recorded when it matches an `include` pattern (or `include` is empty) and matches no
`exclude` pattern: exclude wins. Retention overrides are looked up by exact entity id first, then
by the first matching pattern in the order of the file. Answers are cached per entity id, because
the recorder asks on every state change.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from hub.history.settings import HistorySettings


@dataclass(frozen=True, slots=True)
class Retention:
    """How long (seconds) an entity keeps each resolution."""

    raw: float
    five_min: float
    hourly: float


class Policy:
    """The include/exclude and retention rules of one `history:` section."""

    def __init__(self, settings: HistorySettings) -> None:
        self._include = tuple(settings.include)
        self._exclude = tuple(settings.exclude)
        self.default = Retention(settings.keep_raw, settings.keep_5min, settings.keep_hourly)
        self._overrides = {
            pattern: Retention(
                self.default.raw if o.keep_raw is None else o.keep_raw,
                self.default.five_min if o.keep_5min is None else o.keep_5min,
                self.default.hourly if o.keep_hourly is None else o.keep_hourly,
            )
            for pattern, o in settings.retention.items()
        }
        self._recorded: dict[str, bool] = {}
        self._retention: dict[str, Retention] = {}

    def records(self, entity_id: str) -> bool:
        """Whether state changes of `entity_id` go into the history."""
        answer = self._recorded.get(entity_id)
        if answer is None:
            included = not self._include or any(fnmatchcase(entity_id, p) for p in self._include)
            answer = included and not any(fnmatchcase(entity_id, p) for p in self._exclude)
            self._recorded[entity_id] = answer
        return answer

    def retention(self, entity_id: str) -> Retention:
        """How long `entity_id` keeps raw samples, 5-minute and hourly aggregates."""
        found = self._retention.get(entity_id)
        if found is None:
            found = self._overrides.get(entity_id) or next(
                (r for p, r in self._overrides.items() if fnmatchcase(entity_id, p)), self.default
            )
            self._retention[entity_id] = found
        return found
