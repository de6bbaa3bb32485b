"""The recorder: a quick synchronous bus listener that turns state changes into rows in memory.

It runs on the device path for every state change, so it does the least it can: a cached
include/exclude lookup, a timestamp, one list append. The rows wait here until the writer takes
them as one batch. The buffer is bounded: beyond `max_buffer` rows a change is dropped and counted
as `history.dropped` (with one log line per burst), so an overload can never grow memory without end.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field

from hub.counters import Counters
from hub.events import Event, StateChanged
from hub.history.policy import Policy

log = logging.getLogger(__name__)

TEXT_MAX = 255  # longer text states are cut: history is for charts, not for documents
UNKNOWN = "unknown"

NumericRow = tuple[int, str, float]  # (ms, entity_id, value)
TextRow = tuple[int, str, str | None]  # (ms, entity_id, text); None: the entity became unavailable


@dataclass
class Batch:
    """Rows taken from the recorder for one transaction."""

    numeric: list[NumericRow] = field(default_factory=list)
    text: list[TextRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.numeric) + len(self.text)


class Recorder:
    """Buffers recorded state changes; `take()` hands them to the writer."""

    def __init__(self, policy: Policy, counters: Counters, max_buffer: int) -> None:
        self._policy = policy
        self._counters = counters
        self._max = max_buffer
        self._batch = Batch()
        self._last_ms: dict[str, int] = {}
        self._overloaded = False
        self._high_water = max_buffer // 2
        self.first_at: float | None = None  # clock time of the oldest buffered row
        self.arrived = asyncio.Event()  # set when the buffer goes from empty to non-empty
        self.urgent = asyncio.Event()  # set when the buffer is half full: write now, do not wait

    def __len__(self) -> int:
        return len(self._batch)

    def on_event(self, event: Event) -> None:
        """The bus listener: record `event` if it is a state change worth keeping."""
        if not isinstance(event, StateChanged):
            return
        new, old = event.new, event.old
        if old is not None and new.value == old.value and new.available == old.available:
            return  # only attributes changed
        if not new.available and old is not None and not old.available:
            return  # still unavailable
        if new.value is None and new.available and (old is None or old.value is None):
            return  # a new entity starts unknown: nothing happened yet
        if not self._policy.records(event.entity_id):
            return
        if len(self._batch) >= self._max:
            self._drop()
            return
        self._append(event)

    def _append(self, event: StateChanged) -> None:
        entity_id, new = event.entity_id, event.new
        ms = self._stamp(entity_id, event.time)
        number = _number(new.value)
        if not new.available:
            self._batch.text.append((ms, entity_id, None))
        elif number is not None:
            self._batch.numeric.append((ms, entity_id, number))
        else:
            text = UNKNOWN if new.value is None else str(new.value)
            self._batch.text.append((ms, entity_id, text[:TEXT_MAX]))
        if self.first_at is None:
            self.first_at = event.time
            self.arrived.set()
        elif len(self._batch) >= self._high_water:
            self.urgent.set()
        self._overloaded = False

    def _stamp(self, entity_id: str, time: float) -> int:
        # (time, entity) is the key on disk, so two readings of one entity in the same millisecond
        # get consecutive milliseconds instead of overwriting each other. A clock that jumped back
        # by more than a second is taken as it is.
        ms = int(time * 1000)
        last = self._last_ms.get(entity_id)
        if last is not None and last - 1000 < ms <= last:
            ms = last + 1
        self._last_ms[entity_id] = ms
        return ms

    def _drop(self) -> None:
        self._counters.inc("history.dropped")
        if not self._overloaded:
            self._overloaded = True
            log.warning(
                "History is behind: %d readings are waiting to be written; new readings are skipped "
                "until it catches up (counted as history.dropped)",
                len(self._batch),
            )

    def take(self) -> Batch:
        """Everything buffered so far; the buffer starts empty again."""
        batch, self._batch = self._batch, Batch()
        self.first_at = None
        self.arrived.clear()
        self.urgent.clear()
        return batch

    def put_back(self, batch: Batch, now: float) -> None:
        """Return a batch that could not be written (to retry at `now` + the commit interval), oldest
        first, dropping what no longer fits."""
        room = max(0, self._max - len(self._batch))
        numeric = batch.numeric[:room]
        text = batch.text[: room - len(numeric)]
        lost = len(batch) - len(numeric) - len(text)
        if lost:
            self._counters.inc("history.dropped", lost)
        self._batch = Batch(numeric + self._batch.numeric, text + self._batch.text)
        if self._batch:
            self.first_at = now
            self.arrived.set()


def _number(value: object) -> float | None:
    """The value as a finite float if it is a number (bools, NaN and infinity are recorded as text)."""
    if type(value) is float or type(value) is int:
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            return None
        return number if math.isfinite(number) else None
    return None
