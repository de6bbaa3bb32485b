"""Cutting the byte stream of a serial port into frames, in bounded memory.

A framer is fed whatever bytes arrived and returns the complete frames found so far, plus a
`Dropped` note for each piece of input it had to throw away (a line far too long, noise between
telegrams, a telegram cut short). The port logs each note once and counts it; the framer itself
stays pure, so it is tested without a port.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Dropped:
    """Input thrown away: `reason` is for the log (plain words), `counter` names what is counted."""

    reason: str
    counter: str


Item = bytes | Dropped


class Framer(Protocol):
    """Turns received bytes into frames; `reset()` forgets a partial frame (the port reopened)."""

    def feed(self, data: bytes) -> list[Item]:
        """The frames (and drop notes) completed by `data`, in order."""
        ...

    def reset(self) -> None:
        """Forget anything half received."""
        ...


class LineFramer:
    """Lines ending in LF (a CR before it is removed); empty lines are skipped.

    A line longer than `max_length` is dropped with one note, however long it gets: the bytes up
    to its end are discarded as they arrive instead of being kept, so memory stays bounded.
    """

    def __init__(self, max_length: int = 1024) -> None:
        if max_length < 1:
            raise ValueError("max_length must be positive")
        self.max_length = max_length
        self._buffer = bytearray()
        self._discarding = False

    @property
    def buffered(self) -> int:
        """How many bytes of an unfinished line are held (never much more than `max_length`)."""
        return len(self._buffer)

    def reset(self) -> None:
        """Forget a partial line."""
        self._buffer.clear()
        self._discarding = False

    def feed(self, data: bytes) -> list[Item]:
        """Complete lines in `data` (without their line end), and a note per over-long line."""
        items: list[Item] = []
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            if end < 0:
                self._take(data[start:], items)
                break
            self._take(data[start:end], items)
            self._finish_line(items)
            start = end + 1
        return items

    def _take(self, chunk: bytes, items: list[Item]) -> None:
        if self._discarding:
            return
        self._buffer += chunk
        if len(self._buffer) > self.max_length + 1:  # +1: room for the CR of a CRLF ending
            self._buffer.clear()
            self._discarding = True
            items.append(
                Dropped(
                    f"received a line longer than {self.max_length} bytes without a line end; "
                    "skipping it up to its end",
                    "line_too_long",
                )
            )

    def _finish_line(self, items: list[Item]) -> None:
        if self._discarding:
            self._discarding = False
            return
        line = bytes(self._buffer).removesuffix(b"\r")
        self._buffer.clear()
        if len(line) > self.max_length:
            items.append(Dropped(f"received a line longer than {self.max_length} bytes; skipped it", "line_too_long"))
        elif line.strip():
            items.append(line)
