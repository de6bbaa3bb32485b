"""The hub's own MQTT API: every entity's state mirrored out, commands taken in.

    <base>/state/<entity_id>    retained JSON {"entity_id", "state", "attributes", "available", ...}
    <base>/command/<entity_id>  JSON {"action": "turn_on", "id": 7, ...params} (or just: turn_on)
    <base>/result/<entity_id>   JSON {"ok": true, "id": 7, "state": ...} or {"ok": false, "error": "..."}

Other systems (Node-RED, a script, another hub) can follow and drive every device this way.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from devices import payload as decode
from devices.mqtt.connection import MqttConnection
from devices.mqtt.topics import Message
from devices.payload import BadPayload
from hub.bus import EventBus, Subscription
from hub.counters import Counters
from hub.errors import DriverError, HubError
from hub.events import EntityRemoved, Event, StateChanged
from hub.state import State
from hub.store import StateStore

log = logging.getLogger(__name__)

RunCommand = Callable[[str, str, Mapping[str, Any]], Awaitable[State]]

_MAX_COMMANDS_IN_FLIGHT = 64


class HubBridge:
    """Publishes state changes and serves commands on the base topic."""

    def __init__(
        self,
        mqtt: MqttConnection,
        store: StateStore,
        bus: EventBus,
        counters: Counters,
        run_command: RunCommand,
        *,
        publish_states: bool = True,
        accept_commands: bool = True,
    ) -> None:
        self._mqtt = mqtt
        self._store = store
        self._bus = bus
        self._counters = counters
        self._run_command = run_command
        self._base = mqtt.settings.base_topic
        self._publish_states = publish_states
        self._accept_commands = accept_commands
        self._commands: asyncio.Queue[tuple[str, str, dict[str, Any], Any]] = asyncio.Queue(_MAX_COMMANDS_IN_FLIGHT)

    async def run(self) -> None:
        """Mirror states and serve commands until cancelled."""
        async with asyncio.TaskGroup() as group:
            if self._publish_states:
                # Listen before the first await, so no state change between now and then is missed.
                events = self._bus.subscribe(StateChanged, EntityRemoved, name="mqtt_mirror")
                self._mqtt.on_connect(self._publish_all)
                group.create_task(self._mirror(events))
            if self._accept_commands:
                await self._mqtt.subscribe(f"{self._base}/command/+", self._on_command)
                group.create_task(self._serve_commands(group))

    # --- states out -----------------------------------------------------------------------------
    async def _mirror(self, events: Subscription[Event]) -> None:
        with events:
            if self._mqtt.connected:
                await self._publish_all()
            async for event in events:
                if isinstance(event, StateChanged):
                    await self._publish_state(event.new)
                elif isinstance(event, EntityRemoved):
                    await self._publish(f"{self._base}/state/{event.entity_id}", b"")

    async def _publish_all(self) -> None:
        # After a (re)connect the broker may have lost the retained states: send them all again.
        for state in self._store:
            await self._publish_state(state)

    async def _publish_state(self, state: State) -> None:
        body = json.dumps(state.as_dict(), separators=(",", ":"), default=str)
        await self._publish(f"{self._base}/state/{state.entity_id}", body.encode())

    async def _publish(self, topic: str, body: bytes) -> None:
        if not self._mqtt.connected:
            # Until every subscription (our command topic too) is restored, say nothing: whoever sees
            # our states must be able to command at once. The whole state goes out on connect.
            self._counters.inc("mqtt.mirror_skipped")
            return
        try:
            await self._mqtt.publish(topic, body, qos=0, retain=True)
        except DriverError:
            # Not connected: the whole state is re-published on reconnect, so nothing is lost.
            self._counters.inc("mqtt.mirror_skipped")

    # --- commands in ----------------------------------------------------------------------------
    def _on_command(self, message: Message) -> None:
        entity_id = message.topic.rsplit("/", 1)[-1]
        action, params, request_id = _parse_command(message.payload)
        try:
            self._commands.put_nowait((entity_id, action, params, request_id))
        except asyncio.QueueFull:
            self._counters.inc("commands.dropped")
            log.warning(
                "Dropped a command for '%s': more than %d commands are waiting", entity_id, _MAX_COMMANDS_IN_FLIGHT
            )

    async def _serve_commands(self, group: asyncio.TaskGroup) -> None:
        limit = asyncio.Semaphore(_MAX_COMMANDS_IN_FLIGHT)
        while True:
            request = await self._commands.get()
            await limit.acquire()
            group.create_task(self._answer(request, limit))

    async def _answer(self, request: tuple[str, str, dict[str, Any], Any], limit: asyncio.Semaphore) -> None:
        entity_id, action, params, request_id = request
        reply: dict[str, Any] = {"id": request_id, "action": action} if request_id is not None else {"action": action}
        try:
            state = await self._run_command(entity_id, action, params)
            reply.update(ok=True, state=state.value)
        except HubError as exc:
            self._counters.inc("commands.rejected")
            log.warning("Command '%s' for '%s' from MQTT failed: %s", action, entity_id, exc)
            reply.update(ok=False, error=str(exc))
        finally:
            limit.release()
        try:
            await self._mqtt.publish(
                f"{self._base}/result/{entity_id}", json.dumps(reply, default=str, separators=(",", ":")), qos=1
            )
        except DriverError:
            log.debug("Could not publish the result of '%s' for '%s'", action, entity_id)


def _parse_command(payload: bytes) -> tuple[str, dict[str, Any], Any]:
    text = decode.text(payload).strip()
    if text and not text.startswith("{"):
        return text, {}, None  # a bare action name, e.g. 'turn_on'
    body = decode.json_object(payload)
    action = body.pop("action", None)
    if not isinstance(action, str) or not action:
        raise BadPayload(f'needs an "action" such as {{"action": "turn_on"}}: {decode.preview(text)}')
    request_id = body.pop("id", None)
    return action, body, request_id
