"""The demo's embedded broker delivers retained messages only to matching subscriptions."""

from __future__ import annotations

import asyncio

import aiomqtt

from devices.mqtt.broker import EmbeddedBroker
from tests.broker import free_port


async def test_a_new_subscriber_gets_only_the_retained_messages_it_asked_for() -> None:
    port = free_port()
    async with EmbeddedBroker("127.0.0.1", port), aiomqtt.Client("127.0.0.1", port, identifier="device") as device:
        await device.subscribe("zigbee2mqtt/#")  # another client's subscription stays on the broker
        await device.publish("zigbee2mqtt/bridge/state", b"online", qos=1, retain=True)
        await device.publish("hausmeister/status", b"online", qos=1, retain=True)
        async with aiomqtt.Client("127.0.0.1", port, identifier="viewer") as viewer:
            await viewer.subscribe("hausmeister/#")
            topics = []
            try:
                async with asyncio.timeout(0.5):
                    async for message in viewer.messages:
                        topics.append(message.topic.value)
            except TimeoutError:
                pass
    assert topics == ["hausmeister/status"]
