"""The OpenSprinkler HTTP API (firmware 2.x, `opensprinkler_server.cpp`), as an async client.

Every request carries `pw`, the MD5 hex digest of the device password. Commands answer
`{"result": n}`; 1 is success, other codes are errors this module turns into words:

    ControllerError (a CommandError: a command that fails says why, in plain words)
    ├── unreachable  the controller did not answer (network, timeout, HTTP error, not JSON)
    └── refused      it answered with an error code (wrong password, value out of range, …)

    /js               {"sn":[0,1,…],"nstations":N}            station states
    /jc               {"devt":…,"nbrd":…,"rd":0|1,"rdst":…,"sbits":[…],"ps":[[pid,rem,st,grp],…],…}
    /cm?sid=&en=1&t=  run one station for t seconds (1…64800); en=0 stops it
    /cv?rsn=1         stop every station;  /cv?rd=h  rain delay of h hours (0 ends it)
    /cr?t=[d0,d1,…]   a run-once program: each station for its duration, in the controller's own order
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import httpx

from hub.errors import CommandError

_RESULTS = {
    2: "refused the password (check 'password' in the configuration)",
    3: "reported a mismatch in the values it was sent",
    16: "says a value it needs is missing",
    17: "says a value is out of range",
    18: "could not read a value it was sent",
    32: "does not know this command (is its firmware older than 2.1.9?)",
    48: "did not allow it (a master station cannot run on its own, or its run queue is full)",
}


class _HidePassword(logging.Filter):
    """httpx logs every request URL at INFO, and OpenSprinkler's URLs carry the password hash."""

    _PW = re.compile(r"pw=[^&\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the `pw` value in the message; never drop the record."""
        message = record.getMessage()
        if "pw=" in message:
            record.msg, record.args = self._PW.sub("pw=***", message), None
        return True


logging.getLogger("httpx").addFilter(_HidePassword())


class ControllerError(CommandError):
    """The controller could not be reached, or it refused a request; the text says which and why."""

    def __init__(self, message: str, *, reached: bool) -> None:
        super().__init__(message)
        self.reached = reached


@dataclass(frozen=True)
class StationStates:
    """Which stations are on right now (`/js`)."""

    on: tuple[bool, ...]

    def is_on(self, station: int) -> bool:
        """Whether `station` is on (a station the controller does not have is off)."""
        return station < len(self.on) and self.on[station]


@dataclass(frozen=True)
class ControllerState:
    """The parts of `/jc` the hub uses: station bits, the run queue, rain delay and sensors."""

    device_time: int
    on: tuple[bool, ...]
    queued: frozenset[int]
    rain_delay: bool
    rain_delay_end: int
    sensor1: bool
    sensor2: bool

    @property
    def nstations(self) -> int:
        """How many stations the controller has (8 per board)."""
        return len(self.on)

    @property
    def rain_delay_hours(self) -> int:
        """Hours of rain delay left, rounded up (0 when there is none)."""
        if not self.rain_delay:
            return 0
        return max(0, -(-(self.rain_delay_end - self.device_time) // 3600))


def password_hash(password: str) -> str:
    """The `pw` the API expects: the MD5 hex digest of the device password."""
    return hashlib.md5(password.encode("utf-8"), usedforsecurity=False).hexdigest()


class OpenSprinklerApi:
    """An HTTP client for one controller; `transport` lets tests use any httpx transport."""

    def __init__(
        self, url: str, password: str, *, timeout: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.url = url
        self._pw = password_hash(password)
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Self:
        if self._client is not None:
            raise RuntimeError("this OpenSprinkler client is already open")
        self._client = httpx.AsyncClient(base_url=self.url, timeout=self._timeout, transport=self._transport)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._client is not None:
            await self._client.aclose()

    # --- reading ---------------------------------------------------------------------------------
    async def station_states(self) -> StationStates:
        """`/js`: which stations are on."""
        body = await self._get("/js")
        return StationStates(tuple(_flag(v, "sn") for v in _list(body, "sn")))

    async def controller_state(self) -> ControllerState:
        """`/jc`: station bits, queue, rain delay, sensors."""
        body = await self._get("/jc")
        boards = [_int(v, "sbits") for v in _list(body, "sbits")][: _int(body.get("nbrd"), "nbrd")]
        on = tuple(bool(bits >> s & 1) for bits in boards for s in range(8))
        return ControllerState(
            device_time=_int(body.get("devt"), "devt"),
            on=on,
            queued=_queued(_list(body, "ps")),
            rain_delay=_flag(body.get("rd"), "rd"),
            rain_delay_end=_int(body.get("rdst", 0), "rdst"),
            sensor1=_flag(body.get("sn1", 0), "sn1"),
            sensor2=_flag(body.get("sn2", 0), "sn2"),
        )

    # --- commands --------------------------------------------------------------------------------
    async def run_station(self, station: int, seconds: int) -> None:
        """Run one station for `seconds` (the controller's own timer closes it)."""
        await self._command("/cm", sid=station, en=1, t=seconds)

    async def stop_station(self, station: int) -> None:
        """Close one station now."""
        await self._command("/cm", sid=station, en=0)

    async def stop_all(self) -> None:
        """Close every station and empty the run queue."""
        await self._command("/cv", rsn=1)

    async def rain_delay(self, hours: int) -> None:
        """Set a rain delay of `hours` (0 ends it)."""
        await self._command("/cv", rd=hours)

    async def run_once(self, durations: list[int]) -> None:
        """Start a run-once program: one duration in seconds per station (0 = skip)."""
        await self._command("/cr", t="[" + ",".join(str(d) for d in durations) + "]")

    # --- plumbing --------------------------------------------------------------------------------
    async def _command(self, path: str, **params: Any) -> None:
        body = await self._get(path, **params)
        if "result" not in body:
            raise ControllerError(f"the controller at {self.url} gave no result for {path}", reached=True)

    async def _get(self, path: str, **params: Any) -> dict[str, Any]:
        if self._client is None:
            raise RuntimeError("the OpenSprinkler client is not open")
        try:
            response = await self._client.get(path, params={"pw": self._pw, **params})
        except httpx.TimeoutException:
            raise self._unreachable(f"did not answer within {self._timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise self._unreachable(self._redact(str(exc)) or type(exc).__name__) from None
        if response.status_code != 200:
            raise self._unreachable(f"answered {path} with HTTP {response.status_code}")
        try:
            body = json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise self._unreachable(f"answered {path} with something that is not JSON") from None
        if not isinstance(body, dict):
            raise self._unreachable(f"answered {path} with JSON that is not an object")
        result = body.get("result")
        if result is not None and result != 1:
            reason = _RESULTS.get(result, f"answered with error code {result}") if isinstance(result, int) else ""
            raise ControllerError(f"the controller at {self.url} {reason or 'gave an unreadable result'}", reached=True)
        return body

    def _unreachable(self, why: str) -> ControllerError:
        return ControllerError(f"cannot reach the OpenSprinkler controller at {self.url}: {why}", reached=False)

    def _redact(self, text: str) -> str:
        # httpx messages can quote the request URL, which carries the password hash.
        return text.replace(self._pw, "***")


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if not isinstance(value, list):
        raise ControllerError(f"the controller's reply has no list '{key}'", reached=True)
    return value


def _queued(queue: list[Any]) -> frozenset[int]:
    # Each entry is [program, remaining, start, group]; program 0 means the station has nothing queued.
    found: set[int] = set()
    for station, entry in enumerate(queue):
        if not isinstance(entry, list) or not entry:
            raise ControllerError(f"the controller's reply has a 'ps' entry {entry!r} that is not a list", reached=True)
        if _int(entry[0], "ps") != 0:
            found.add(station)
    return frozenset(found)


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControllerError(f"the controller's reply has '{key}' = {value!r}, not a whole number", reached=True)
    return value


def _flag(value: Any, key: str) -> bool:
    if _int(value, key) not in (0, 1):
        raise ControllerError(f"the controller's reply has '{key}' = {value!r}, not 0 or 1", reached=True)
    return bool(value)
