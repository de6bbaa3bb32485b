"""A DIY irrigation board on a virtual serial port: four relays and a soil-moisture sensor.

It speaks the kind of text protocol Arduino sketches use (one command per line, LF or CR LF):

    RELAY <n> ON [<seconds>]   switch relay n on (off again by itself after <seconds>)
    RELAY <n> OFF              switch relay n off
    STATUS                     report every relay and the moisture
    → every command is answered `OK` or `ERR <reason>`, after the state lines it caused

and it reports by itself: `RELAY <n> ON|OFF` whenever a relay changes (also when a timed run
ends), `MOISTURE <raw>` every `interval` seconds (raw ADC 0…1023 of a capacitive sensor: higher
is drier), and `# irrigation board ready` when it starts. Unplugging powers it off: all relays
drop out and start off again on replug, as on a USB-powered Arduino.
"""

from __future__ import annotations

import asyncio
import contextlib

from devices.serial.framing import LineFramer
from devices.serial.pty import DeviceUnplugged, VirtualSerialDevice
from hub.clock import Clock, SystemClock

MAX_RUN = 86_400


class LineBoard:
    """The simulated board; `silent` makes it ignore commands, like a hung sketch."""

    def __init__(
        self,
        device: VirtualSerialDevice,
        *,
        clock: Clock | None = None,
        relays: int = 4,
        interval: float = 60.0,
        moisture_raw: int = 520,
        silent: bool = False,
    ) -> None:
        self.device = device
        self.clock = clock or SystemClock()
        self.relays = [False] * relays
        self.interval = interval
        self.moisture_raw = moisture_raw
        self.silent = silent
        self.received: list[str] = []
        self._off_at: dict[int, float] = {}

    async def run(self) -> None:
        """Serve commands and report, through any number of unplug/replug cycles, until cancelled."""
        while True:
            await self.device.wait_plugged()
            self.relays = [False] * len(self.relays)  # powered up again: relays start off
            self._off_at.clear()
            with contextlib.suppress(DeviceUnplugged):
                await self._say("# irrigation board ready")
                try:
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._serve())
                        group.create_task(self._report())
                        group.create_task(self._timers())
                except* DeviceUnplugged:
                    pass

    async def _serve(self) -> None:
        framer = LineFramer(256)
        while True:
            for item in framer.feed(await self.device.read()):
                if isinstance(item, bytes):
                    await self.handle(item.decode("ascii", "replace").strip())

    async def handle(self, line: str) -> None:
        """Carry out one command line and answer it."""
        self.received.append(line)
        if self.silent:
            return
        words = line.upper().split()
        if words == ["STATUS"]:
            for index in range(len(self.relays)):
                await self._say_relay(index)
            await self._say(f"MOISTURE {self.moisture_raw}")
            await self._say("OK")
        elif len(words) in (3, 4) and words[0] == "RELAY":
            await self._relay(words[1:])
        else:
            await self._say("ERR unknown command")

    async def _relay(self, args: list[str]) -> None:
        number, state, *rest = args
        if not number.isdigit() or not 1 <= int(number) <= len(self.relays):
            await self._say(f"ERR no relay {number}")
            return
        if state not in ("ON", "OFF") or (rest and (state == "OFF" or not _valid_seconds(rest[0]))):
            await self._say("ERR use RELAY <n> ON [seconds] or RELAY <n> OFF")
            return
        index = int(number) - 1
        self._off_at.pop(index, None)
        if rest:
            self._off_at[index] = self.clock.time() + int(rest[0])
        await self._set(index, state == "ON")
        await self._say("OK")

    async def _set(self, index: int, on: bool) -> None:
        self.relays[index] = on
        await self._say_relay(index)

    async def _say_relay(self, index: int) -> None:
        await self._say(f"RELAY {index + 1} {'ON' if self.relays[index] else 'OFF'}")

    async def _report(self) -> None:
        while True:
            await self.clock.sleep(self.interval)
            await self._say(f"MOISTURE {self.moisture_raw}")

    async def _timers(self) -> None:
        # Like a sketch's loop(): look at the timed runs once a second.
        while True:
            await self.clock.sleep(1.0)
            now = self.clock.time()
            for index, deadline in sorted(self._off_at.items()):
                if deadline <= now:
                    del self._off_at[index]
                    await self._set(index, False)

    async def _say(self, line: str) -> None:
        await self.device.write(line.encode("ascii") + b"\r\n")


def _valid_seconds(text: str) -> bool:
    return text.isdigit() and 1 <= int(text) <= MAX_RUN
