"""The `ha_discovery` driver: entities appear, change and disappear as discovery configs come and go.

Messages on `<prefix>/+/+/config` and `<prefix>/+/+/+/config` are read in the MQTT handler (so a
bad one is reported at once, in one line, and counted) and applied in order by `run()`, which may
await the broker to subscribe to the new entity's topics. A config repeated byte for byte (the
broker replays retained configs after every reconnect) changes nothing.

Counters: `ha_discovery.bad_config` (unusable config, one log line each), `ha_discovery.unsupported`
(a component Hausmeister does not handle), `ha_discovery.unknown_keys` (keys nobody knows, ignored).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Self

from devices.base import Driver
from devices.discovery.components import build
from devices.discovery.config import HaDiscoveryConfig
from devices.discovery.entity import DiscoveredEntity, derive_object_id, device_identifiers, override
from devices.discovery.message import Announcement, BadDiscovery, Unsupported, address, parse
from devices.discovery.publisher import Announcer, Announcing
from devices.discovery.schema import Common
from devices.mqtt.connection import MqttConnection
from devices.mqtt.topics import Message
from hub.commands import Command
from hub.errors import CommandError, DriverError
from hub.events import EntityAdded, EntityRemoved

log = logging.getLogger(__name__)


class HaDiscoveryDriver(Driver[HaDiscoveryConfig]):
    """Consumes Home Assistant MQTT discovery and, if configured, announces the hub's entities."""

    config_model = HaDiscoveryConfig

    async def __aenter__(self) -> Self:
        self._mqtt: MqttConnection = self.context.require_mqtt()
        self._queue: asyncio.Queue[Announcement] = asyncio.Queue()
        self._seen: dict[str, bytes] = {}  # config topic → last payload
        self._entities: dict[str, dict[str, DiscoveredEntity]] = {}  # discovery id → component id → entity
        self._claimed: dict[str, str] = {}  # entity id → discovery id/component id that holds it
        self._device_names: dict[str, str] = {}  # device identifier → name (configs may name it once)
        self._removers: list[Callable[[], None]] = []
        self._announcer: Announcer | None = None
        prefix = self.config.prefix
        if self.config.consume:
            for topic_filter in (f"{prefix}/+/+/config", f"{prefix}/+/+/+/config"):
                self._removers.append(await self._mqtt.subscribe(topic_filter, self._on_config, qos=1))
        if self.config.publish:
            settings = self._mqtt.settings
            if not (settings.publish_states and settings.accept_commands):
                log.warning(
                    "Announcing to Home Assistant needs the hub's MQTT API: set mqtt.publish_states and "
                    "mqtt.accept_commands to true, or Home Assistant sees no states or cannot switch anything"
                )
            self._announcer = Announcer(
                self._mqtt,
                self.context.store,
                self.context.clock,
                self.context.counters,
                Announcing(
                    prefix,
                    self.config.node_id,
                    self.config.device_name,
                    self._mqtt.settings.base_topic,
                    self._mqtt.status_topic,
                ),
                interval=self.config.publish_interval,
                skip=lambda spec: spec.device == self.context.name and not self.config.publish_discovered,
            )
            self._removers.append(await self._mqtt.subscribe(f"{prefix}/status", self._announcer.on_status, qos=1))
            if self.context.bus is not None:
                # Announce a new entity (or withdraw a removed one) at once, not at the next periodic check.
                announcer = self._announcer
                self._removers.append(
                    self.context.bus.listen(EntityAdded, EntityRemoved, callback=lambda _event: announcer.refresh())
                )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for remove in self._removers:
            remove()
        for entities in self._entities.values():
            for entity in entities.values():
                entity.stop()

    async def run(self) -> None:
        """Apply discovery configs in the order they arrived; announce the hub's entities if asked."""
        async with asyncio.TaskGroup() as group:
            if self._announcer is not None:
                group.create_task(self._announcer.run())
            while True:
                await self._apply(await self._queue.get())
                # Once 'applied' catches up with 'queued', every announced entity listens to its topics.
                self.context.counters.inc("ha_discovery.applied")

    async def execute(self, command: Command) -> None:
        """Commands are routed straight to each entity's own executor; this is only a fallback."""
        raise CommandError(f"'{command.entity_id}' is no longer announced by its device")

    # --- reading configs (in the MQTT handler) ---------------------------------------------------
    def _on_config(self, message: Message) -> None:
        if self._seen.get(message.topic) == message.payload:
            return
        self._seen[message.topic] = message.payload
        try:
            if self._is_own(message.topic):
                return
            announcement = parse(message.topic, message.payload, self.config.prefix)
        except Unsupported as exc:
            self.context.counters.inc("ha_discovery.unsupported")
            log.info("Skipped the discovery config on '%s': %s", message.topic, exc)
            return
        except BadDiscovery as exc:
            self._bad(message.topic, str(exc))
            return
        if announcement.problems:
            self._bad(message.topic, "; ".join(announcement.problems))
        if announcement.unsupported:
            self.context.counters.inc("ha_discovery.unsupported")
            log.info(
                "Skipped components Hausmeister does not handle on '%s': %s", message.topic, announcement.unsupported
            )
        if announcement.unknown_keys:
            self.context.counters.inc("ha_discovery.unknown_keys")
            log.info(
                "The discovery config on '%s' has keys nobody knows (ignored; a typo?): %s",
                message.topic,
                ", ".join(announcement.unknown_keys),
            )
        self._queue.put_nowait(announcement)
        self.context.counters.inc("ha_discovery.queued")

    def _is_own(self, topic: str) -> bool:
        """Whether the config is one this hub announces (now or before publishing was turned off)."""
        return address(topic, self.config.prefix).node_id == self.config.node_id

    def _bad(self, topic: str, why: str) -> None:
        self.context.counters.inc("ha_discovery.bad_config")
        log.warning("Ignored the Home Assistant discovery config on '%s': %s", topic, why)

    # --- applying them (in run) ------------------------------------------------------------------
    async def _apply(self, announcement: Announcement) -> None:
        current = self._entities.setdefault(announcement.key, {})
        keep = set(announcement.components) | (announcement.kept & set(current))
        for component_id in [c for c in current if c not in keep]:
            self._drop(current.pop(component_id), announcement.key)
        for component_id, config in announcement.components.items():
            previous = current.get(component_id)
            if previous is not None and previous.config == config:
                continue
            entity = await self._create(announcement, component_id, config, previous)
            if entity is not None:
                current[component_id] = entity
            elif previous is not None:
                current.pop(component_id)
        if not current:
            del self._entities[announcement.key]

    def _drop(self, entity: DiscoveredEntity, key: str) -> None:
        entity.stop()
        self._claimed.pop(entity.entity_id, None)
        self.context.remove_entity(entity.entity_id)
        log.info("'%s' is no longer announced (%s): removed", entity.entity_id, key)

    async def _create(
        self, announcement: Announcement, component_id: str, config: Common, previous: DiscoveredEntity | None
    ) -> DiscoveredEntity | None:
        component = build(config)
        device_name = self._device_name(config)
        kind = self.config.light_kind if config.platform == "light" else component.kind
        holder = f"{announcement.key}/{component_id}" if component_id else announcement.key
        entity_id = self._entity_id(kind, announcement, component_id, config, previous, holder, device_name)
        if entity_id is None:
            if previous is not None:
                self._drop(previous, announcement.key)
            return None
        if previous is not None:
            previous.stop()
            if previous.entity_id != entity_id:
                self._drop(previous, announcement.key)
        entity = DiscoveredEntity(
            entity_id,
            component,
            self.context,
            self._mqtt,
            command_timeout=self.config.command_timeout,
            device_name=device_name,
        )
        try:
            self.context.add_entity(entity.spec(component_id or announcement.object_id), entity.execute)
        except DriverError as exc:
            if previous is not None and previous.entity_id == entity_id:
                self._drop(previous, announcement.key)
            self._bad(announcement.topic, str(exc))
            return None
        self._claimed[entity_id] = holder
        await entity.start()
        if previous is None:
            log.info("Discovered '%s' on '%s'", entity_id, announcement.topic)
        return entity

    def _entity_id(  # noqa: PLR0917 - every argument is a distinct fact about the entity
        self,
        kind: str,
        announcement: Announcement,
        component_id: str,
        config: Common,
        previous: DiscoveredEntity | None,
        holder: str,
        device_name: str,
    ) -> str | None:
        wanted = override(config, (holder, announcement.key), self.config.entity_id_for)
        if wanted is not None:
            if wanted.partition(".")[0] != kind:
                self._bad(announcement.topic, f"'{wanted}' (from entity_id_for) is not a {kind}; using a derived id")
            elif self._free(wanted, holder):
                return wanted
            else:
                self._bad(announcement.topic, f"'{wanted}' (from entity_id_for) is already in use")
                return None
        if previous is not None and previous.entity_id.partition(".")[0] == kind:
            return previous.entity_id
        base = f"{kind}.{derive_object_id(config, component_id or announcement.object_id, device_name)}"
        candidate, number = base, 1
        while not self._free(candidate, holder):
            number += 1
            candidate = f"{base}_{number}"
        return candidate

    def _device_name(self, config: Common) -> str:
        """The device's name, remembered from any config that gave it."""
        identifiers = device_identifiers(config)
        name = config.device.get("name") if config.device else None
        if isinstance(name, str) and name:
            self._device_names.update(dict.fromkeys(identifiers, name))
            return name
        return next((self._device_names[i] for i in identifiers if i in self._device_names), "")

    def _free(self, entity_id: str, holder: str) -> bool:
        """Not held by another discovered entity here, and not owned by another device."""
        if self._claimed.get(entity_id, holder) != holder:
            return False
        spec = self.context.store.spec(entity_id)
        return spec is None or spec.device == self.context.name
