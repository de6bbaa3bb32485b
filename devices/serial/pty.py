"""A virtual USB serial device on a pseudo-terminal pair, for simulators, tests and the demo.

The hub opens `device.path` exactly as it opens a real adapter; the simulator reads and writes
the other (master) side. `unplug()` closes the pair, which the hub sees as a vanished USB device;
`plug()` opens a new pair. With `link` given, `path` is a stable symbolic link (like the entries
udev keeps in /dev/serial/by-id/) that is removed on unplug and points to the new terminal on
replug — the terminal's own name usually changes, just as /dev/ttyUSB0 may become /dev/ttyUSB1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from pathlib import Path
from types import TracebackType
from typing import Self


class DeviceUnplugged(Exception):
    """The virtual device was unplugged while the simulator read or wrote it."""


class VirtualSerialDevice:
    """A pty pair playing a USB serial adapter that can be unplugged and plugged in again."""

    def __init__(self, link: Path | None = None) -> None:
        self.link = link
        self._master: int | None = None
        self._slave: int | None = None
        self._plugged = asyncio.Event()
        self._waiters: set[asyncio.Future[None]] = set()
        self._write_lock = asyncio.Lock()  # whole writes, one at a time: lines never interleave

    async def __aenter__(self) -> Self:
        self.plug()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.unplug()

    @property
    def plugged(self) -> bool:
        """Whether the device is plugged in."""
        return self._master is not None

    @property
    def path(self) -> str:
        """What the hub opens: the stable link if there is one, else the terminal itself."""
        if self.link is not None:
            return str(self.link)
        if self._slave is None:
            raise DeviceUnplugged("the virtual device is not plugged in")
        return os.ttyname(self._slave)

    def plug(self) -> None:
        """Open a new pty pair (raw, like a serial line) and point the link at it."""
        if self.plugged:
            return
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        # The simulator keeps the slave open too, so the master never reads EIO between hub sessions.
        self._master, self._slave = master, slave
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
            self.link.symlink_to(os.ttyname(slave))
        self._plugged.set()

    def unplug(self) -> None:
        """Close the pair: the hub's open port reports the device gone, the path disappears."""
        if not self.plugged:
            return
        master, slave = self._master, self._slave
        self._master = self._slave = None
        self._plugged.clear()
        loop = asyncio.get_running_loop()
        assert master is not None and slave is not None
        loop.remove_reader(master)
        loop.remove_writer(master)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(DeviceUnplugged("the virtual device was unplugged"))
        self._waiters.clear()
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        os.close(master)
        os.close(slave)

    async def wait_plugged(self) -> None:
        """Wait until the device is plugged in."""
        await self._plugged.wait()

    async def read(self, size: int = 4096) -> bytes:
        """The next bytes the hub wrote (waits for them); `DeviceUnplugged` if it is unplugged."""
        while True:
            master = self._require_master()
            try:
                data = os.read(master, size)
            except BlockingIOError:
                await self._ready(master, writing=False)
                continue
            except OSError as exc:
                raise DeviceUnplugged(f"the virtual device cannot be read: {exc}") from exc
            if data:
                return data
            raise DeviceUnplugged("the virtual device was closed")

    async def write(self, data: bytes) -> None:
        """Send bytes to the hub, waiting while the terminal's buffer is full."""
        async with self._write_lock:
            await self._write_all(memoryview(data))

    async def _write_all(self, view: memoryview) -> None:
        while view:
            master = self._require_master()
            try:
                written = os.write(master, view)
            except BlockingIOError:
                await self._ready(master, writing=True)
                continue
            except OSError as exc:
                raise DeviceUnplugged(f"the virtual device cannot be written: {exc}") from exc
            view = view[written:]

    def _require_master(self) -> int:
        if self._master is None:
            raise DeviceUnplugged("the virtual device is not plugged in")
        return self._master

    async def _ready(self, fd: int, *, writing: bool) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not waiter.done():
                waiter.set_result(None)

        self._waiters.add(waiter)
        (loop.add_writer if writing else loop.add_reader)(fd, wake)
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)
            if self._master == fd:
                (loop.remove_writer if writing else loop.remove_reader)(fd)
