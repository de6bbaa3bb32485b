"""The assembly: `Hub` opens the MQTT connection, every driver and the hub's MQTT API under one
TaskGroup, supervises the drivers and offers `command()` to rules, the web panel and the CLI.

    async with Hub(config) as hub:
        await hub.command("switch.compressor", "turn_off")
        await hub.wait_stopped()

A driver whose `run()` fails is logged, its entities go unavailable, and it is started again after
a backoff that doubles up to a minute; it never takes the hub down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Self

from devices.base import DriverContext
from devices.mqtt.bridge import HubBridge
from devices.mqtt.connection import MqttConnection
from devices.registry import DriverClass, load_registry
from hub.bus import EventBus
from hub.clock import Clock, SystemClock
from hub.commands import Commands
from hub.config import Config, DeviceConfig
from hub.counters import Counters
from hub.events import HubStarted, HubStopping
from hub.history import HistoryStore
from hub.state import State
from hub.store import StateStore
from hub.timers import TimerStore
from rules.engine import RuleEngine

log = logging.getLogger(__name__)

BACKOFF_MIN = 1.0
BACKOFF_MAX = 60.0
HEALTHY_AFTER = 60.0  # a driver that ran this long starts again from the shortest backoff


class Hub:
    """The running hub: state store, event bus, commands, MQTT and drivers, one supervision tree."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        drivers: Mapping[str, DriverClass] | None = None,
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.counters = Counters()
        self.bus = EventBus(self.counters)
        self.store = StateStore(self.bus, self.clock)
        self.commands = Commands(self.store, self.bus, self.clock, self.counters)
        self.registry = load_registry(drivers)
        self.mqtt: MqttConnection | None = None
        self.timers: TimerStore | None = None
        self.history: HistoryStore | None = None
        self.rules: RuleEngine | None = None
        self.contexts: dict[str, DriverContext] = {}
        self._stack: AsyncExitStack | None = None
        self._root: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self._entered = False

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a Hub can be started once; create a new one")
        self._entered = True
        settings = self.config.settings
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        async with AsyncExitStack() as stack:
            self.timers = await stack.enter_async_context(TimerStore(self.config.data_dir / "timers.db"))
            if settings.history.enabled:
                # Entered before any driver starts, so the first states are recorded; closed after MQTT, so
                # the buffer is written once every driver has stopped.
                history = HistoryStore(
                    settings.history, settings.history.path(self.config.data_dir), self.bus, self.clock, self.counters
                )
                self.history = await stack.enter_async_context(history)
            self.mqtt = await stack.enter_async_context(
                MqttConnection(
                    settings.mqtt, clock=self.clock, counters=self.counters, base_dir=str(self.config.base_dir)
                )
            )
            started = {device.name: asyncio.Event() for device in self.config.devices}
            rules_ready = asyncio.Event()
            self._root = asyncio.create_task(self._run(started, rules_ready), name="hausmeister")
            waiting: asyncio.Future[Any] = asyncio.gather(
                *(event.wait() for event in started.values()), rules_ready.wait()
            )
            racing: set[asyncio.Future[Any]] = {self._root, waiting}
            done, _ = await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
            if self._root in done:
                waiting.cancel()
                self._root.result()  # startup itself failed: raise it
            self._stack = stack.pop_all()
        self.bus.publish(HubStarted(self.clock.time()))
        log.info("Hausmeister is running with %d entities from %d devices", len(self.store), len(self.config.devices))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.bus.publish(HubStopping(self.clock.time()))
        if self._root is not None:
            self._root.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._root
        if self._stack is not None:
            await self._stack.aclose()
        self._stopped.set()
        log.info("Hausmeister stopped")

    async def _run(self, started: Mapping[str, asyncio.Event], rules_ready: asyncio.Event) -> None:
        assert self.mqtt is not None
        async with asyncio.TaskGroup() as group:
            group.create_task(self.mqtt.run(), name="mqtt")
            if self.history is not None:
                group.create_task(self.history.run(), name="history")
            group.create_task(self._run_rules(rules_ready), name="rules")
            mqtt_settings = self.config.settings.mqtt
            if mqtt_settings.publish_states or mqtt_settings.accept_commands:
                bridge = HubBridge(
                    self.mqtt,
                    self.store,
                    self.bus,
                    self.counters,
                    self._command_from_mqtt,
                    publish_states=mqtt_settings.publish_states,
                    accept_commands=mqtt_settings.accept_commands,
                )
                group.create_task(bridge.run(), name="mqtt-bridge")
            for device in self.config.devices:
                context = DriverContext(
                    device.name,
                    self.clock,
                    self.counters,
                    self.store,
                    self.commands,
                    mqtt=self.mqtt,
                    timers=self.timers,
                    data_dir=self.config.data_dir,
                )
                self.contexts[device.name] = context
                group.create_task(self._supervise(device, context, started[device.name]), name=f"driver:{device.name}")

    async def _run_rules(self, ready: asyncio.Event) -> None:
        """Run the rule engine when the rules directory exists (it reloads changed files by itself)."""
        if not self.config.rules_dir.is_dir():
            log.info("No rules directory at %s: no rules run", self.config.rules_dir)
            ready.set()
            return
        async with RuleEngine(self) as engine:
            self.rules = engine
            ready.set()
            await asyncio.Event().wait()  # until the hub stops (cancelled)

    async def _supervise(self, device: DeviceConfig, context: DriverContext, started: asyncio.Event) -> None:
        driver_class = self.registry[device.type]
        delay = BACKOFF_MIN
        while True:
            began = self.clock.time()
            try:
                async with driver_class(device, context) as driver:
                    started.set()
                    await driver.run()
                log.warning("Device '%s' stopped by itself; starting it again", device.name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The supervisor is the one place that catches everything: one device must not stop the hub.
                log.error(
                    "Device '%s' failed: %s; restarting in %.0f s",
                    device.name,
                    exc,
                    delay,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
                self.counters.inc(f"driver.restarts.{device.name}")
            started.set()
            context.set_available(False)
            if self.clock.time() - began >= HEALTHY_AFTER:
                delay = BACKOFF_MIN
            await self.clock.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    # --- what rules, the panel and the CLI use ---------------------------------------------------
    async def command(self, entity_id: str, action: str, /, *, source: str = "", **params: Any) -> State:
        """Carry out a command; returns when the device confirms (or raises `CommandError`/`CommandTimeout`)."""
        return await self.commands.run(entity_id, action, params, source=source)

    async def _command_from_mqtt(self, entity_id: str, action: str, params: Mapping[str, Any]) -> State:
        return await self.commands.run(entity_id, action, params, source="mqtt")

    def state(self, entity_id: str) -> State | None:
        """The current state of an entity."""
        return self.store.get(entity_id)

    async def wait_stopped(self) -> None:
        """Wait until the hub has shut down (or forever, while it runs)."""
        await self._stopped.wait()
