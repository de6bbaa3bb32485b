"""MQTT publishes of rules, handed to the broker by a few sender tasks so a run never waits for the network.

A rule's `mqtt.publish` checks that the broker is connected, queues the message and goes on: a
run that only publishes finishes inside the callback that triggered it. Several senders keep
messages in flight at once (one sender waiting for each write would limit the hub to a message
per event-loop turn); each takes the next message and hands it to the connection before it
waits, so messages leave in the order they were queued. A message the broker refuses later is
counted (`rules.publish_failed`) and logged once per outage. The queue is bounded; when it is
full, the publishing action fails with a clear error.
"""

from __future__ import annotations

import asyncio
import logging

from hub.counters import Counters
from hub.errors import DriverError, RuleError
from rules.hubapi import MqttPort

log = logging.getLogger(__name__)

LIMIT = 10_000
SENDERS = 16
_YIELD_EVERY = 100  # a connection whose publish never waits (the scenario loopback) must not starve the loop

Outgoing = tuple[str, bytes | str, int, bool]


class Outbox:
    """A bounded queue of messages for the broker and the tasks that send them."""

    def __init__(self, mqtt: MqttPort | None, counters: Counters, limit: int = LIMIT) -> None:
        self._mqtt = mqtt
        self._counters = counters
        self._limit = limit
        self._queue: asyncio.Queue[Outgoing] = asyncio.Queue(limit)
        self._failed = 0

    def put(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False) -> None:
        """Queue a message, or raise `RuleError` when there is no broker or the queue is full."""
        if self._mqtt is None:
            raise RuleError("the hub has no MQTT connection")
        if not self._mqtt.connected:
            raise RuleError("not connected to the MQTT broker")
        try:
            self._queue.put_nowait((topic, payload, qos, retain))
        except asyncio.QueueFull:
            self._counters.inc("rules.publish_dropped")
            raise RuleError(
                f"more than {self._limit} messages are waiting for the broker; this one was dropped"
            ) from None

    async def run(self) -> None:
        """Send queued messages until cancelled."""
        if self._mqtt is None:
            return
        async with asyncio.TaskGroup() as group:
            for number in range(SENDERS):
                group.create_task(self._send(self._mqtt), name=f"rules:outbox:{number}")

    async def _send(self, mqtt: MqttPort) -> None:
        sent = 0
        while True:
            topic, payload, qos, retain = await self._queue.get()
            try:
                await mqtt.publish(topic, payload, qos=qos, retain=retain)
            except DriverError as exc:
                self._refused(topic, exc)
            else:
                self._sent()
            sent += 1
            if sent % _YIELD_EVERY == 0:
                await asyncio.sleep(0)

    def _refused(self, topic: str, exc: DriverError) -> None:
        self._counters.inc("rules.publish_failed")
        if not self._failed:
            log.warning("Rule messages are not reaching the broker (first: '%s'): %s", topic, exc)
        self._failed += 1

    def _sent(self) -> None:
        if self._failed:
            log.info("Rule messages reach the broker again; %d were not sent meanwhile", self._failed)
            self._failed = 0
