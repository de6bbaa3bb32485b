"""MQTT publishes of rules, handed to the broker by one task so a run never waits for the network.

A rule's `mqtt.publish` checks that the broker is connected, queues the message and goes on: a
run that only publishes finishes inside the callback that triggered it. The outbox sends in
order; a message the broker refuses later is logged and counted (`rules.publish_failed`). The
queue is bounded; when it is full, the publishing action fails with a clear error.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from hub.counters import Counters
from hub.errors import DriverError, RuleError
from rules.hubapi import MqttPort

log = logging.getLogger(__name__)

LIMIT = 10_000


class Outbox:
    """A bounded queue of messages for the broker and the task that sends them."""

    def __init__(self, mqtt: MqttPort | None, counters: Counters, limit: int = LIMIT) -> None:
        self._mqtt = mqtt
        self._counters = counters
        self._limit = limit
        self._queue: deque[tuple[str, bytes | str, int, bool]] = deque()
        self._wake = asyncio.Event()

    def put(self, topic: str, payload: bytes | str, qos: int = 0, retain: bool = False) -> None:
        """Queue a message, or raise `RuleError` when there is no broker or the queue is full."""
        if self._mqtt is None:
            raise RuleError("the hub has no MQTT connection")
        if not self._mqtt.connected:
            raise RuleError("not connected to the MQTT broker")
        if len(self._queue) >= self._limit:
            self._counters.inc("rules.publish_dropped")
            raise RuleError(f"more than {self._limit} messages are waiting for the broker; this one was dropped")
        self._queue.append((topic, payload, qos, retain))
        self._wake.set()

    async def run(self) -> None:
        """Send queued messages until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.drain()

    async def drain(self) -> None:
        """Send everything queued now."""
        mqtt = self._mqtt
        sent = 0
        while self._queue and mqtt is not None:
            topic, payload, qos, retain = self._queue.popleft()
            sent += 1
            if sent % 100 == 0:
                await asyncio.sleep(0)  # a publish that never waits must not starve the loop
            try:
                await mqtt.publish(topic, payload, qos=qos, retain=retain)
            except DriverError as exc:
                self._counters.inc("rules.publish_failed")
                log.warning("A rule's message to '%s' was not sent: %s", topic, exc)
