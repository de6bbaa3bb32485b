"""What the rule engine needs from the hub, as a `Protocol` — so `rules/` never imports `devices/`.

`hub.supervisor.Hub` satisfies `RulesHub` as it is (its `MqttConnection` matches `MqttPort`), and
so does `rules.scenarios.ScenarioHub`, the in-process hub that runs rule scenarios with a fake
clock and no devices.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from hub.bus import EventBus
from hub.clock import Clock
from hub.config import Config
from hub.counters import Counters
from hub.state import State
from hub.store import StateStore
from hub.timers import TimerStore


class IncomingMessage(Protocol):
    """An MQTT message as a subscription handler receives it."""

    @property
    def topic(self) -> str:
        """The topic it arrived on."""
        ...

    @property
    def payload(self) -> bytes:
        """The raw payload."""
        ...

    @property
    def retain(self) -> bool:
        """Whether the broker replayed it as a retained message."""
        ...


MessageHandler = Callable[[IncomingMessage], None]


class MqttPort(Protocol):
    """The hub's shared MQTT connection, as far as rules use it."""

    @property
    def connected(self) -> bool:
        """Whether the broker is reachable right now."""
        ...

    async def subscribe(self, topic_filter: str, handler: MessageHandler, *, qos: int = 1) -> Callable[[], None]:
        """Call `handler` synchronously for every matching message; returns the function that stops it."""
        ...

    async def publish(self, topic: str, payload: bytes | str, *, qos: int = 0, retain: bool = False) -> None:
        """Publish one message (raises `DriverError` while the broker is unreachable)."""
        ...


class RulesHub(Protocol):
    """The slice of the hub the rule engine uses."""

    @property
    def config(self) -> Config:
        """The configuration: data and rules directories, `hub:` location and time zone, `rules:` settings."""
        ...

    @property
    def clock(self) -> Clock:
        """The injected clock."""
        ...

    @property
    def store(self) -> StateStore:
        """Entities and their states (read by triggers, conditions and templates)."""
        ...

    @property
    def bus(self) -> EventBus:
        """The event bus (state changes, hub start, notifications)."""
        ...

    @property
    def counters(self) -> Counters:
        """Counters for what was skipped or went wrong."""
        ...

    @property
    def mqtt(self) -> MqttPort | None:
        """The shared MQTT connection, if the hub has one."""
        ...

    @property
    def timers(self) -> TimerStore | None:
        """Persisted deadlines (SQLite in the data directory)."""
        ...

    async def command(self, entity_id: str, action: str, /, *, source: str = "", **params: Any) -> State:
        """Carry out an entity command; returns when the device confirms."""
        ...
