"""Serial ports that survive being unplugged: one open link, and a port that keeps reopening it.

    port = SerialPort(settings, LineFramer(), on_frame, name="board", clock=clock, counters=counters,
                      on_status=on_status)
    async with port:
        await port.run()        # opens, reads, and reopens with backoff when the device goes away

`SerialLink` is one open connection (pyserial-asyncio-fast): an async context manager that cannot
be reopened. `SerialPort` is the loop around it, in the manner of aiomqtt's reconnection recipe:
open, hand every frame to the driver, and when the USB device disappears tell the driver
(`on_status(False)`, its entities go unavailable), wait with a doubling backoff on the injected
clock and try again, until the device is back (`on_status(True)`).

Errors: opening fails with `DriverError` (the message says what to do); a lost link is not an
error but a state. An exception raised by the frame handler other than `BadPayload` is a bug: it
closes the link and `run()` raises it, so the supervisor restarts the driver.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import termios
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

import serial
import serial_asyncio_fast

from devices.payload import BadPayload
from devices.serial.config import PortSettings
from devices.serial.framing import Dropped, Framer
from hub.clock import Clock
from hub.counters import Counters
from hub.errors import DriverError
from hub.resource import SingleUse

log = logging.getLogger(__name__)

FrameHandler = Callable[[bytes], None]
StatusHandler = Callable[[bool], None]
ConnectHook = Callable[[], Awaitable[None]]

HEALTHY_AFTER = 60.0  # a link that lasted this long reopens from the shortest delay again


class _Receiver(asyncio.Protocol):
    """Hands received bytes to the link and notes why the connection ended."""

    def __init__(self, on_data: Callable[[bytes], None]) -> None:
        self._on_data = on_data
        self.transport: asyncio.BaseTransport | None = None
        self.lost: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
        self.failure: BaseException | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self._on_data(data)
        except Exception as exc:
            # A bug in a frame handler: stop reading and let run() raise it to the supervisor.
            self.failure = exc
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


class SerialLink:
    """One open serial connection; bytes received go to `on_data`. Open it once, close it once."""

    def __init__(self, settings: PortSettings, on_data: Callable[[bytes], None]) -> None:
        self.settings = settings
        self._on_data = on_data
        self._receiver: _Receiver | None = None
        self._transport: asyncio.Transport | None = None
        self._used = False

    async def __aenter__(self) -> Self:
        if self._used:
            raise RuntimeError("a SerialLink opens once; create a new one to reconnect")
        self._used = True
        receiver = _Receiver(self._on_data)
        try:
            transport, _ = await serial_asyncio_fast.create_serial_connection(
                asyncio.get_running_loop(), lambda: receiver, self.settings.url, **self.settings.pyserial_options()
            )
        except (serial.SerialException, OSError, ValueError, termios.error) as exc:
            raise DriverError(describe_open_error(self.settings, exc)) from exc
        self._receiver = receiver
        self._transport = transport
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._transport is not None and self._receiver is not None:
            self._transport.close()
            # Wait until the file descriptor is really closed, so a reopen cannot race it.
            await asyncio.shield(self._receiver.lost)

    async def wait_lost(self) -> str:
        """Wait until the connection ends by itself; return why, in words (raise a handler's bug)."""
        assert self._receiver is not None, "the link is not open"
        cause = await asyncio.shield(self._receiver.lost)
        if self._receiver.failure is not None:
            raise self._receiver.failure
        return str(cause) if cause is not None else "the other side closed the connection"

    def write(self, data: bytes) -> None:
        """Queue bytes for sending (the transport writes them as the port accepts them)."""
        if self._transport is None or self._transport.is_closing():
            raise DriverError(f"the serial port {self.settings.url} is not open")
        self._transport.write(data)


def describe_open_error(settings: PortSettings, exc: BaseException) -> str:
    """Why a port would not open, and what to do about it, for a person."""
    code = getattr(exc, "errno", None)
    if code == errno.ENOENT or "No such file" in str(exc):
        return (
            f"the serial port {settings.url} does not exist: is the device plugged in? "
            "(plugged-in USB serial devices are listed under /dev/serial/by-id/)"
        )
    if code == errno.EACCES or "Permission denied" in str(exc):
        return (
            f"no permission to open {settings.url}: add the hub's user to the 'dialout' group "
            "(sudo usermod -aG dialout $USER, then log in again)"
        )
    if code in (errno.EBUSY, errno.EAGAIN) or "lock" in str(exc).lower():
        return f"the serial port {settings.url} is in use by another program"
    if isinstance(exc, ValueError | termios.error):
        return f"the serial port {settings.url} does not accept {settings.framing}: {exc}"
    return f"could not open the serial port {settings.url}: {exc}"


class SerialPort(SingleUse):
    """A serial port kept open: frames go to `on_frame`, `on_status` hears when it comes and goes."""

    what = "this serial port"

    def __init__(
        self,
        settings: PortSettings,
        framer: Framer,
        on_frame: FrameHandler,
        *,
        name: str,
        clock: Clock,
        counters: Counters,
        on_status: StatusHandler | None = None,
        on_connect: ConnectHook | None = None,
    ) -> None:
        self.settings = settings
        self.name = name
        self._framer = framer
        self._on_frame = on_frame
        self._clock = clock
        self._counters = counters
        self._on_status = on_status
        self._on_connect = on_connect
        self._link: SerialLink | None = None
        self._connected = asyncio.Event()

    @property
    def connected(self) -> bool:
        """Whether the port is open right now."""
        return self._link is not None

    async def wait_connected(self) -> None:
        """Wait until the port is open."""
        await self._connected.wait()

    async def write(self, data: bytes) -> None:
        """Send bytes, or raise `DriverError` while the device is away."""
        if self._link is None:
            raise DriverError(f"the serial port {self.settings.url} is not connected (is the device plugged in?)")
        self._link.write(data)

    async def run(self) -> None:
        """Open the port and keep it open, reopening with backoff whenever it goes away."""
        if not self._entered or self._closed:
            raise RuntimeError("use `async with SerialPort(...)` around run()")
        delay = self.settings.reconnect_min
        ever_open = False
        failing = False
        while True:
            try:
                async with SerialLink(self.settings, self._receive) as link:
                    self._opened(link, again=ever_open)
                    ever_open, failing, opened_at = True, False, self._clock.time()
                    try:
                        if self._on_connect is not None:
                            await self._on_connect()
                        reason = await link.wait_lost()
                    finally:
                        self._closing()
                if self._clock.time() - opened_at >= HEALTHY_AFTER:
                    delay = self.settings.reconnect_min  # a flapping adapter keeps backing off instead
                log.warning(
                    "Serial device '%s': %s is gone (unplugged?); its entities are unavailable until it is back",
                    self.name,
                    self.settings.url,
                )
                log.debug("Serial device '%s': the port closed because: %s", self.name, reason)
                self._counters.inc(f"serial.disconnects.{self.name}")
            except DriverError as exc:
                # Say it once at warning level; while the device stays away, keep retrying quietly.
                log.log(
                    logging.DEBUG if failing else logging.WARNING, "Serial device '%s': %s; retrying", self.name, exc
                )
                failing = True
            await self._clock.sleep(delay)
            delay = min(delay * 2, self.settings.reconnect_max)

    def _opened(self, link: SerialLink, *, again: bool) -> None:
        self._framer.reset()
        self._link = link
        self._connected.set()
        log.info(
            "Serial device '%s': %s %s (%s)",
            self.name,
            "reconnected to" if again else "opened",
            self.settings.url,
            self.settings.framing,
        )
        if self._on_status is not None:
            self._on_status(True)

    def _closing(self) -> None:
        self._link = None
        self._connected.clear()
        if self._on_status is not None:
            self._on_status(False)

    def _receive(self, data: bytes) -> None:
        for item in self._framer.feed(data):
            if isinstance(item, Dropped):
                log.warning("Serial device '%s': %s", self.name, item.reason)
                self._counters.inc(f"serial.{item.counter}.{self.name}")
                continue
            try:
                self._on_frame(item)
            except BadPayload as exc:
                log.warning("Serial device '%s': ignored a message that %s", self.name, exc)
                self._counters.inc(f"serial.bad_input.{self.name}")
