"""Named counters for what went wrong or was dropped, so bad input is visible without log spam."""

from __future__ import annotations

from collections import Counter


class Counters:
    """A bag of monotonically increasing counters, e.g. `mqtt.bad_payload` or `bus.dropped.history`."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def inc(self, name: str, amount: int = 1) -> None:
        """Add `amount` to the counter `name`."""
        self._counts[name] += amount

    def get(self, name: str) -> int:
        """The current value of `name` (0 if never counted)."""
        return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        """All counters, sorted by name."""
        return dict(sorted(self._counts.items()))
