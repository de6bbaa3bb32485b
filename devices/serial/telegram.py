"""DSMR P1 telegrams: framing from `/` to `!CRC`, the CRC-16 check, and the COSEM lines inside.

A telegram (DSMR P1 companion standard) is a header line starting with `/`, a blank line, one
line per value such as `1-0:1.8.1(000004.426*kWh)` and a last line `!` followed, from DSMR 4 on,
by a CRC-16/ARC (polynomial 0xA001 reflected, initial value 0) over every byte from `/` through
`!`, as four upper-case hex digits. Lines end with CR LF. DSMR 2.2 and 3 have no CRC and put the
gas reading on a continuation line that starts with `(`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devices.payload import BadPayload, preview
from devices.serial.framing import Dropped, Item

# A telegram is around 1 kB; text messages (96.13.0) can add 2 kB. Anything larger is not a telegram.
MAX_TELEGRAM = 16_384


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/ARC of `data`, as DSMR 4 and 5 meters compute it from `/` through `!`."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc


class TelegramFramer:
    """Finds telegrams in the byte stream and checks their CRC (when `check_crc`).

    Yields each good telegram as bytes from `/` through the line end after `!CRC`, and a `Dropped`
    note for a telegram with a wrong or missing CRC, one cut short by the next telegram's `/`, one
    longer than `max_size`, and the start of each run of bytes that belong to no telegram.
    """

    def __init__(self, *, check_crc: bool, max_size: int = MAX_TELEGRAM) -> None:
        self.check_crc = check_crc
        self.max_size = max_size
        self._pending = bytearray()
        self._in_telegram = False
        self._in_noise = False
        self._skipping = False  # the rest of an over-long telegram: not noise, not news

    @property
    def buffered(self) -> int:
        """How many bytes of an unfinished telegram are held (never much more than `max_size`)."""
        return len(self._pending)

    def reset(self) -> None:
        """Forget a partial telegram (the port was reopened)."""
        self._pending.clear()
        self._in_telegram = self._in_noise = self._skipping = False

    def feed(self, data: bytes) -> list[Item]:
        """The telegrams (and drop notes) completed by `data`."""
        items: list[Item] = []
        self._pending += data
        while self._pending:
            if not self._in_telegram and not self._hunt(items):
                break
            if not self._collect(items):
                break
        return items

    def _hunt(self, items: list[Item]) -> bool:
        """Skip to the next `/`; say whether a telegram starts in what we have."""
        start = self._pending.find(b"/")
        skipped = self._pending if start < 0 else self._pending[:start]
        if skipped.strip() and not self._in_noise and not self._skipping:
            self._in_noise = True
            items.append(Dropped(f"skipping bytes that are not part of a telegram: {_show(bytes(skipped))}", "garbage"))
        if start < 0:
            self._pending.clear()
            return False
        del self._pending[:start]
        self._in_telegram = True
        self._in_noise = self._skipping = False
        return True

    def _collect(self, items: list[Item]) -> bool:
        """With a telegram started in `_pending`: emit it if complete; say whether to keep going."""
        end = self._pending.find(b"!")
        # A telegram never contains '/' after its first byte (dsmr_parser's buffer relies on it too).
        restart = self._pending.find(b"/", 1)
        if restart >= 0 and (end < 0 or restart < end):
            items.append(Dropped("dropped a truncated telegram (a new one began before it ended)", "truncated"))
            del self._pending[:restart]
            return True
        line_end = self._pending.find(b"\n", end) if end >= 0 else -1
        if line_end < 0:
            if len(self._pending) > self.max_size:
                items.append(Dropped(f"dropped a telegram longer than {self.max_size} bytes", "too_long"))
                self._pending.clear()
                self._in_telegram = False
                self._skipping = True
            return False
        frame = bytes(self._pending[: line_end + 1])
        del self._pending[: line_end + 1]
        self._in_telegram = False
        items.append(self._checked(frame, end))
        return True

    def _checked(self, frame: bytes, end: int) -> Item:
        if not self.check_crc:
            return frame
        given = frame[end + 1 :].strip().decode("ascii", "replace")
        if not given:
            return Dropped(
                "dropped a telegram without a checksum (DSMR 4 and 5 meters always send one: is dsmr_version right?)",
                "bad_crc",
            )
        expected = f"{crc16(frame[: end + 1]):04X}"
        if given.upper() != expected:
            return Dropped(
                f"dropped a telegram with a wrong checksum ({given!r}, computed {expected}): "
                "the cable or plug may be disturbed",
                "bad_crc",
            )
        return frame


def _show(data: bytes, limit: int = 24) -> str:
    """Raw bytes for a log line, unprintable ones as escapes: b'\\x00\\xff line noise…'."""
    return repr(data[:limit]) + ("…" if len(data) > limit else "")


@dataclass(frozen=True)
class Telegram:
    """A telegram's header (without `/`) and its COSEM objects: OBIS code → the values in brackets."""

    header: str
    objects: dict[str, tuple[str, ...]]


_LINE = re.compile(r"^(?P<obis>\d+-\d+:\d+\.\d+\.\d+)(?:\*\d+)?(?P<values>(?:\([^()]*\))+)$")
_VALUE = re.compile(r"\(([^()]*)\)")


def parse(frame: bytes) -> Telegram:
    """Split a framed telegram into its header and objects; raise `BadPayload` if it is not one."""
    text = frame.decode("ascii", "replace")
    lines = text.replace("\r", "").split("\n")
    if not lines[0].startswith("/"):
        raise BadPayload(f"does not start with a '/' header line: {preview(text)}")
    objects: dict[str, tuple[str, ...]] = {}
    last: str | None = None
    for line in lines[1:]:
        if line.startswith("!"):
            return Telegram(lines[0][1:], objects)
        if line.startswith("(") and last is not None:  # DSMR 2.2/3: the gas value on its own line
            objects[last] = objects[last] + tuple(_VALUE.findall(line))
            continue
        match = _LINE.match(line)
        if match:
            last = match["obis"]
            objects[last] = tuple(_VALUE.findall(match["values"]))
    raise BadPayload("has no '!' end line")
