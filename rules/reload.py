"""Hot reload: the rules directory is checked every few seconds (file times and sizes, with the
injected clock — no inotify needed) and changed, added or removed files are handed to the engine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from hub.clock import Clock
from rules.loader import rule_files

log = logging.getLogger(__name__)

Stamp = tuple[int, int]
OnChanges = Callable[[list[Path], list[Path]], Awaitable[None]]


def snapshot(directory: Path) -> dict[Path, Stamp]:
    """Modification time and size of every rule file."""
    stamps: dict[Path, Stamp] = {}
    for path in rule_files(directory):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue  # removed between listing and stat
        stamps[path] = (stat.st_mtime_ns, stat.st_size)
    return stamps


class Watcher:
    """Polls a directory and reports changed or added files and removed ones."""

    def __init__(self, directory: Path, clock: Clock, interval: float, on_changes: OnChanges) -> None:
        self.directory = directory
        self._clock = clock
        self._interval = interval
        self._on_changes = on_changes
        self._known: dict[Path, Stamp] = {}

    def remember(self, stamps: dict[Path, Stamp]) -> None:
        """The state of the files as loaded (the next check compares with it)."""
        self._known = dict(stamps)

    async def check(self) -> None:
        """Compare with the last check and report the differences."""
        # stat() of a directory on an SD card can take a while: keep it off the event loop.
        current = await asyncio.to_thread(snapshot, self.directory)
        changed = sorted(p for p, stamp in current.items() if self._known.get(p) != stamp)
        removed = sorted(p for p in self._known if p not in current)
        self._known = current
        if changed or removed:
            await self._on_changes(changed, removed)

    async def run(self) -> None:
        """Check every `interval` seconds until cancelled."""
        while True:
            await self._clock.sleep(self._interval)
            try:
                await self.check()
            except Exception:
                # A folder that cannot be read now (an SD card hiccup) must not stop the rules; try again.
                log.exception("Rules: could not check %s for changed files", self.directory)
