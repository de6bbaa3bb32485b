"""The driver contract: what every device driver is and the narrow interface it gets from the hub.

A driver is an async context manager (open ports and connections in `__aenter__`, close them in
`__aexit__`) with `run()`, which keeps its entities up to date until cancelled, and `execute()`,
which sends one validated command to the device. It never sees the hub: only a `DriverContext`.
If `run()` raises, the supervisor marks the driver's entities unavailable and restarts it with
backoff.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Generic, Self, TypeVar

from devices.mqtt.connection import MqttConnection
from hub.bus import EventBus
from hub.clock import Clock
from hub.commands import Command, Commands
from hub.config import DeviceConfig
from hub.counters import Counters
from hub.entity import EntitySpec
from hub.errors import DriverError
from hub.state import State
from hub.store import UNSET, StateStore
from hub.timers import TimerStore


@dataclass
class DriverContext:
    """The slice of the hub a driver may use: its entities' states, time, counters and transports."""

    name: str
    clock: Clock
    counters: Counters
    store: StateStore
    commands: Commands
    bus: EventBus | None = None
    mqtt: MqttConnection | None = None
    timers: TimerStore | None = None
    data_dir: Path = Path("data")
    owned: set[str] = field(default_factory=set)

    def add_entity(self, spec: EntitySpec, executor: Any = None) -> None:
        """Announce an entity owned by this driver; commands for it go to `executor` if given."""
        existing = self.store.spec(spec.entity_id)
        if existing is not None and existing.device not in (None, self.name):
            raise DriverError(f"'{spec.entity_id}' already belongs to the device '{existing.device}'")
        self.store.add(EntitySpec(**{**spec.__dict__, "device": self.name}))
        self.owned.add(spec.entity_id)
        if executor is not None:
            self.commands.route(spec.entity_id, executor)

    def remove_entity(self, entity_id: str) -> None:
        """Forget an entity this driver owns."""
        if entity_id in self.owned:
            self.owned.discard(entity_id)
            self.commands.unroute(entity_id)
            self.store.remove(entity_id)

    def set_state(
        self,
        entity_id: str,
        value: Any = UNSET,
        *,
        attributes: Mapping[str, Any] | None = None,
        available: bool | None = None,
    ) -> State:
        """Update an owned entity's state (only what is given changes)."""
        if entity_id not in self.owned:
            raise DriverError(f"the device '{self.name}' does not own '{entity_id}'")
        return self.store.set(entity_id, value, attributes=attributes, available=available)

    def set_available(self, available: bool, entity_ids: set[str] | None = None) -> None:
        """Mark all (or the given) owned entities available or unavailable."""
        for entity_id in sorted(entity_ids if entity_ids is not None else self.owned):
            if entity_id in self.owned:
                self.store.set(entity_id, available=available)

    def state(self, entity_id: str) -> State | None:
        """Read any entity's state (for interlocks such as 'not while it rains')."""
        return self.store.get(entity_id)

    def require_timers(self) -> TimerStore:
        """The persisted timer store (deadlines that survive a restart)."""
        if self.timers is None:
            raise DriverError(f"the device '{self.name}' needs persisted timers, but the hub has none")
        return self.timers

    def require_mqtt(self) -> MqttConnection:
        """The shared MQTT connection, or a clear error when the config has none."""
        if self.mqtt is None:
            raise DriverError(f"the device '{self.name}' needs MQTT, but the hub has no MQTT connection")
        return self.mqtt


C = TypeVar("C", bound=DeviceConfig)


class Driver(ABC, Generic[C]):
    """Base class of device drivers; subclasses set `config_model` and implement `run` and `execute`."""

    config_model: ClassVar[type[DeviceConfig]]

    def __init__(self, config: C, context: DriverContext) -> None:
        self.config = config
        self.context = context

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    @abstractmethod
    async def run(self) -> None:
        """Keep the entities up to date until cancelled; raise to be restarted with backoff."""

    @abstractmethod
    async def execute(self, command: Command) -> None:
        """Send one validated command to the device; the hub waits for the confirming state."""
