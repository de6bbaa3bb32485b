"""An in-process hub for rule scenarios: the real state store, bus and timer store, a fake clock,
no devices, and a loopback MQTT that records what rules publish.

Commands are validated against the entity's kind exactly like the real hub does, recorded, and
confirmed at once (the entity takes the state the command asks for), so rules see a valve open
after `valve.open`. MQTT messages a scenario sends — and those rules publish — reach every
matching subscription, as through a broker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from hub.bus import EventBus
from hub.clock import FakeClock
from hub.commands import validate
from hub.config import Config
from hub.counters import Counters
from hub.entity import EntitySpec
from hub.errors import CommandError
from hub.events import Event, Notification
from hub.state import State
from hub.store import StateStore
from hub.timers import TimerStore
from rules.hubapi import MessageHandler
from rules.topics import matches


@dataclass(frozen=True, slots=True)
class Message:
    """An MQTT message on the loopback."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False


@dataclass(frozen=True)
class Effect:
    """Something the rules did to the world: a command, a publish or a notification."""

    kind: str  # "command" | "publish" | "notify"
    time: float
    target: str  # "valve.open valve.bed1_zone", the topic, or the title
    data: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        details = f" {self.data}" if self.data else ""
        return f"{self.kind} {self.target}{details}"


class LoopbackMqtt:
    """Subscriptions and publishes without a broker; what is published is delivered and recorded."""

    def __init__(self, record: Callable[[str, bytes], None]) -> None:
        self.connected = True
        self._exact: dict[str, list[MessageHandler]] = {}
        self._wild: list[tuple[str, MessageHandler]] = []
        self._record = record

    async def subscribe(self, topic_filter: str, handler: MessageHandler, *, qos: int = 1) -> Callable[[], None]:
        """Deliver matching messages to `handler`."""
        if "+" in topic_filter or "#" in topic_filter:
            entry = (topic_filter, handler)
            self._wild.append(entry)
            return lambda: self._wild.remove(entry) if entry in self._wild else None
        handlers = self._exact.setdefault(topic_filter, [])
        handlers.append(handler)
        return lambda: handlers.remove(handler) if handler in handlers else None

    async def publish(self, topic: str, payload: bytes | str, *, qos: int = 0, retain: bool = False) -> None:
        """Record and deliver."""
        data = payload.encode() if isinstance(payload, str) else payload
        self._record(topic, data)
        self.deliver(Message(topic, data, qos, retain))

    def deliver(self, message: Message) -> None:
        """Hand a message to every matching subscription."""
        handlers = list(self._exact.get(message.topic, ()))
        handlers.extend(h for f, h in self._wild if matches(f, message.topic))
        for handler in handlers:
            handler(message)


class SandboxHub:
    """A hub without devices, for rule scenarios and tests (satisfies `RulesHub`)."""

    def __init__(self, config: Config, clock: FakeClock) -> None:
        self.config = config
        self.clock = clock
        self.counters = Counters()
        self.bus = EventBus(self.counters)
        self.store = StateStore(self.bus, clock)
        self.mqtt = LoopbackMqtt(self._published)
        self.timers: TimerStore | None = None
        self.effects: list[Effect] = []
        self._notify_topic = f"{config.settings.mqtt.base_topic}/notify"
        self._stop = self.bus.listen(Notification, callback=self._notified)

    async def __aenter__(self) -> Self:
        self.timers = await TimerStore(self.config.data_dir / "timers.db").__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()
        if self.timers is not None:
            await self.timers.__aexit__(exc_type, exc, tb)

    def entity(
        self, entity_id: str, value: Any = None, attributes: dict[str, Any] | None = None, *, available: bool = True
    ) -> State:
        """Create the entity if needed and set its state."""
        if self.store.spec(entity_id) is None:
            self.store.add(EntitySpec(entity_id))
        return self.store.set(entity_id, value, attributes=attributes or {}, available=available)

    async def command(self, entity_id: str, action: str, /, *, source: str = "", **params: Any) -> State:
        """Validate, record and confirm a command at once."""
        action_spec = validate(entity_id, action, params, self.store)
        state = self.store.get(entity_id)
        if state is None or not state.available:
            raise CommandError(f"'{entity_id}' is unavailable: its device is not reachable")
        self.effects.append(
            Effect("command", self.clock.time(), f"{entity_id.partition('.')[0]}.{action} {entity_id}", params)
        )
        confirming = action_spec.confirms(params, state.value)
        if confirming:
            return self.store.set(entity_id, sorted(confirming, key=str)[0])
        return state

    def _published(self, topic: str, payload: bytes) -> None:
        if topic != self._notify_topic:  # notifications are recorded as such
            self.effects.append(
                Effect("publish", self.clock.time(), topic, {"payload": payload.decode("utf-8", "replace")})
            )

    def _notified(self, event: Event) -> None:
        assert isinstance(event, Notification)
        self.effects.append(Effect("notify", event.time, event.title, {"message": event.message}))
