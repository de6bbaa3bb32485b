"""An OpenSprinkler controller: its HTTP API on a loopback port and its MQTT events on a real broker.

It behaves like firmware 2.2 with every station in one sequential group (the factory setting):
`/cm` runs a station, or queues it behind the one that runs; `/cr` queues a run-once program in
station order; `/cv` stops everything (`rsn=1`) or sets a rain delay (`rd`); `/js` and `/jc` report.
Its run timers use the injected clock. `broken_timer=True` makes the timers never close a station,
as a controller with a hung timer would: only a command closes it (that is what the hub's watchdog
is for). `crash()` cuts the connections without a goodbye, so the broker delivers its last will
(`<topic>/availability` = `offline`), like a controller losing power.

Device time is the clock plus `tz_offset` (the firmware counts in local time), so `devt` and
`rdst` in `/jc` are only meaningful relative to each other, as on the real controller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiomqtt

from devices.opensprinkler.api import password_hash
from devices.sim.client import SimClient
from hub.clock import Clock, SystemClock

SUCCESS, UNAUTHORIZED, MISSING, OUT_OF_BOUND, NOT_FOUND, NOT_PERMITTED = 1, 2, 16, 17, 32, 48
MANUAL, RUN_ONCE = 99, 254  # program numbers the firmware gives manual runs and run-once programs


@dataclass
class _Run:
    station: int
    duration: int
    program: int
    started: float = 0.0
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class OpenSprinklerSim:
    """A simulated controller; `http_port` is known once `ready` is set."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        clock: Clock | None = None,
        nstations: int = 8,
        password: str = "opendoor",
        topic: str = "opensprinkler",
        master: int | None = None,
        broken_timer: bool = False,
        flow_rate: float | None = None,
        tz_offset: int = 3600,
        http_port: int = 0,
    ) -> None:
        self.host, self.port, self.topic = host, port, topic
        self.clock = clock or SystemClock()
        self.nstations = nstations
        self.password = password
        self.master = master
        self.broken_timer = broken_timer
        self.flow_rate = flow_rate  # litres per minute while a station runs; None: no flow sensor
        self.tz_offset = tz_offset
        self.on = [False] * nstations
        self.queue: list[_Run] = []
        self.running: _Run | None = None
        self.rain_delay_end: int | None = None  # device time
        self.sensor = {1: False, 2: False}
        self.fault: str | None = None  # "http500" or "garbage": how the next HTTP answers go wrong
        self.requests: list[tuple[str, dict[str, str]]] = []  # what the hub asked, without the password
        self.http_port = http_port  # 0: any free port; give the old one to restart "the same" controller
        self.ready = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._wake = asyncio.Event()
        self._rain_delay_changed = asyncio.Event()
        self._crash = False

    @property
    def device_time(self) -> int:
        """The controller's clock (local time, whole seconds)."""
        return int(self.clock.time()) + self.tz_offset

    # --- lifecycle ---------------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve HTTP, publish MQTT and run stations until cancelled (or until `crash()`)."""
        will = aiomqtt.Will(f"{self.topic}/availability", b"offline", qos=0, retain=True)
        server = await asyncio.start_server(self._serve_http, "127.0.0.1", self.http_port)
        self.http_port = server.sockets[0].getsockname()[1]
        async with server, SimClient(self.host, self.port, identifier=f"OS-sim-{self.http_port}", will=will) as c:
            self._client = c
            await self._publish("availability", "online", retain=True)
            self.ready.set()
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._runner())
                    group.create_task(self._rain_delay_timer())
            except asyncio.CancelledError:
                if self._crash:
                    server.close()
                    await _cut_connection(c)
                raise
            finally:
                self.ready.clear()
                self._client = None

    def crash(self) -> None:
        """Lose power at the next cancellation: no goodbye on MQTT, the HTTP port closes."""
        self._crash = True

    # --- HTTP --------------------------------------------------------------------------------------
    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readline()
            while (await reader.readline()).strip():
                pass  # headers: not needed
            target = request.split()[1].decode() if len(request.split()) > 1 else "/"
            status, body = await self._answer(target)
            writer.write(
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: application/json\r\n"
                f"Access-Control-Allow-Origin: *\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (ConnectionError, IndexError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, target: str) -> tuple[int, bytes]:
        url = urlsplit(target)
        params = {key: values[-1] for key, values in parse_qs(url.query).items()}
        self.requests.append((url.path, {k: v for k, v in params.items() if k != "pw"}))
        if self.fault == "http500":
            return 500, b"<html>Internal Server Error</html>"
        if self.fault == "garbage":
            return 200, b"\x00\xffnot json"
        if params.get("pw") != password_hash(self.password):
            return 200, _result(UNAUTHORIZED)
        handler = {"/js": self._js, "/jc": self._jc, "/cm": self._cm, "/cv": self._cv, "/cr": self._cr}.get(url.path)
        if handler is None:
            return 404, _result(NOT_FOUND)
        answer = await handler(params)
        return 200, answer if isinstance(answer, bytes) else json.dumps(answer, separators=(",", ":")).encode()

    async def _js(self, _params: dict[str, str]) -> dict[str, Any]:
        return {"sn": [int(bit) for bit in self._bits()], "nstations": self.nstations}

    async def _jc(self, _params: dict[str, str]) -> dict[str, Any]:
        bits = self._bits()
        sbits = [sum(int(bits[b * 8 + s]) << s for s in range(8)) for b in range(self.nstations // 8)]
        rd = self.rain_delay_end is not None
        return {
            "devt": self.device_time, "nbrd": self.nstations // 8, "en": 1,
            "sn1": int(self.sensor[1]), "sn2": int(self.sensor[2]), "rd": int(rd), "rdst": self.rain_delay_end or 0,
            "sunrise": 390, "sunset": 1215, "eip": 0, "lwc": 0, "lswc": 0, "lupt": 0, "lrbtc": 0,
            "lrun": [0, 0, 0, 0], "pq": 0, "pt": 0, "nq": len(self.queue) + (self.running is not None),
            "mac": "02:00:00:00:00:01", "loc": "", "jsp": "", "wsp": "", "wto": {}, "ifkey": "", "mqtt": {},
            "wtdata": {}, "wterr": 0, "dname": "Simulated OpenSprinkler",
            "sbits": [*sbits, 0], "ps": [self._queue_entry(sid) for sid in range(self.nstations)],
        }  # fmt: skip

    def _queue_entry(self, station: int) -> list[int]:
        run = self.running if self.running is not None and self.running.station == station else None
        if run is not None:
            left = max(0, int(run.started + run.duration - self.clock.time()))
            return [run.program, left, int(run.started) + self.tz_offset, 0]
        for queued in self.queue:
            if queued.station == station:
                return [queued.program, queued.duration, 0, 0]
        return [0, 0, 0, 0]

    async def _cm(self, params: dict[str, str]) -> bytes:
        station, en = _whole(params.get("sid")), _whole(params.get("en"))
        if station is None or en is None:
            return _result(MISSING)
        if not 0 <= station < self.nstations:
            return _result(OUT_OF_BOUND)
        if not en:
            await self._stop(station)
            return _result(SUCCESS)
        seconds = _whole(params.get("t"))
        if seconds is None:
            return _result(MISSING)
        if not 0 < seconds <= 64_800:
            return _result(OUT_OF_BOUND)
        if station == self.master:
            return _result(NOT_PERMITTED)
        if not self._scheduled(station):  # a station that already has a run keeps it (firmware does nothing)
            self.queue.append(_Run(station, seconds, MANUAL))
            await self._advance()
        return _result(SUCCESS)

    async def _cv(self, params: dict[str, str]) -> bytes:
        if "rsn" in params:
            await self.stop_all()
        if "rd" in params:
            hours = _whole(params["rd"])
            if hours is None or hours < 0:
                return _result(OUT_OF_BOUND)
            await self.set_rain_delay(hours)
        return _result(SUCCESS)

    async def _cr(self, params: dict[str, str]) -> bytes:
        text = params.get("t", "")
        if not (text.startswith("[") and text.endswith("]")):
            return _result(MISSING)
        durations = [_whole(part) or 0 for part in text[1:-1].split(",")][: self.nstations]
        await self.stop_all()
        runs = [_Run(sid, d, RUN_ONCE) for sid, d in enumerate(durations) if d > 0 and sid != self.master]
        if not runs:
            return _result(MISSING)
        self.queue.extend(runs)
        await self._advance()
        return _result(SUCCESS)

    # --- stations ----------------------------------------------------------------------------------
    def _bits(self) -> list[bool]:
        bits = list(self.on)
        if self.master is not None:
            bits[self.master] = any(on for sid, on in enumerate(self.on) if sid != self.master)
        return bits

    def _scheduled(self, station: int) -> bool:
        running = self.running is not None and self.running.station == station
        return running or any(run.station == station for run in self.queue)

    async def _advance(self) -> None:
        # One sequential group: the next queued run starts as soon as nothing runs.
        if self.running is None and self.queue:
            await self._start(self.queue.pop(0))

    async def _runner(self) -> None:
        while True:
            run = self.running
            if run is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.broken_timer:
                await run.ended.wait()  # the timer never fires: only a command ends this run
            else:
                await _first(self.clock.sleep_until(run.started + run.duration), run.ended.wait())
            if self.running is run:
                await self._finish(run.station)
            await self._advance()

    async def _start(self, run: _Run) -> None:
        run.started = self.clock.time()
        self.running = run
        self.on[run.station] = True
        self._wake.set()
        await self._publish(f"station/{run.station}", {"state": 1, "duration": run.duration})

    async def _finish(self, station: int) -> None:
        run = self.running
        self.on[station] = False
        self.running = None
        ran = int(self.clock.time() - run.started) if run is not None else 0
        message: dict[str, Any] = {"state": 0, "duration": ran}
        if self.flow_rate is not None:
            message["flow"] = round(self.flow_rate, 2)
        await self._publish(f"station/{station}", message)
        if self.flow_rate is not None:
            volume = round(self.flow_rate * ran / 60, 2)
            await self._publish("sensor/flow", {"count": int(volume * 10), "volume": volume})
        if run is not None:
            run.ended.set()

    async def _stop(self, station: int) -> None:
        self.queue = [run for run in self.queue if run.station != station]
        if self.on[station]:
            await self._finish(station)

    async def stop_all(self) -> None:
        """Stop every station and empty the queue (`/cv?rsn=1`, or the button on the controller)."""
        self.queue.clear()
        for station, on in enumerate(self.on):
            if on:
                await self._finish(station)

    # --- rain delay, sensors, weather ------------------------------------------------------------
    async def set_rain_delay(self, hours: int) -> None:
        """Start (hours > 0) or end (0) a rain delay; publishes only when it turns on or off."""
        was = self.rain_delay_end is not None
        self.rain_delay_end = self.device_time + hours * 3600 if hours else None
        self._rain_delay_changed.set()
        if was != (self.rain_delay_end is not None):
            await self._publish("raindelay", {"state": int(not was)})

    async def _rain_delay_timer(self) -> None:
        while True:
            self._rain_delay_changed.clear()
            end = self.rain_delay_end
            if end is None:
                await self._rain_delay_changed.wait()
                continue
            await _first(self.clock.sleep_until(end - self.tz_offset), self._rain_delay_changed.wait())
            if self.rain_delay_end == end and self.device_time >= end:
                await self.set_rain_delay(0)

    async def set_sensor(self, index: int, active: bool) -> None:
        """Sensor input 1 or 2 changes (a rain sensor getting wet, say)."""
        self.sensor[index] = active
        await self._publish(f"sensor{index}", {"state": int(active)})

    async def weather_update(self, water_level: int) -> None:
        """The weather service set a new watering percentage."""
        await self._publish("weather", {"water level": water_level})

    async def _publish(self, subtopic: str, payload: dict[str, Any] | str, *, retain: bool = False) -> None:
        if self._client is None:
            return
        data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.publish(f"{self.topic}/{subtopic}", data, qos=0, retain=retain)


def _result(code: int) -> bytes:
    return json.dumps({"result": code}).encode()


def _whole(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


async def _first(*waits: Any) -> None:
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _cut_connection(client: aiomqtt.Client) -> None:
    # Shutting the socket without an MQTT DISCONNECT is what a power cut looks like to the broker,
    # which then publishes the client's last will. aiomqtt has no public call for that.
    sock = client._client.socket()
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
        async with asyncio.timeout(2.0):  # not wait_for: it can swallow a cancellation on Python 3.11
            await asyncio.shield(client._disconnected)
