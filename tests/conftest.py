"""Shared fixtures: one real Mosquitto per test session, MQTT probe clients, hub factories."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from tests.broker import Mosquitto

_ids = itertools.count()


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    """A real Mosquitto on a free loopback port, shared by the whole session."""
    broker = Mosquitto()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def own_mosquitto() -> Iterator[Mosquitto]:
    """A Mosquitto of this test's own, for tests that kill and restart the broker."""
    broker = Mosquitto()
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def prefix() -> str:
    """A topic prefix unique to this test, so tests sharing a broker never see each other's messages."""
    return f"t{next(_ids)}"


@pytest.fixture
async def probe(mosquitto: Mosquitto) -> AsyncIterator[aiomqtt.Client]:
    """An MQTT client playing 'another system on the network'."""
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier=f"probe-{next(_ids)}") as client:
        yield client


async def next_message(
    client: aiomqtt.Client, topic: str, timeout: float = 5.0, *, containing: bytes = b""
) -> aiomqtt.Message:
    """The next message on exactly `topic` whose payload contains `containing` (others are skipped)."""

    async def wait() -> aiomqtt.Message:
        async for message in client.messages:
            if message.topic.value == topic and containing in bytes(message.payload):  # type: ignore[arg-type]
                return message
        raise AssertionError("the client disconnected")

    return await asyncio.wait_for(wait(), timeout)


async def eventually(predicate, timeout: float = 5.0, step: float = 0.01) -> None:  # type: ignore[no-untyped-def]
    """Wait until `predicate()` is true: for real I/O (a broker round trip), never for fake time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


def write(path: Path, text: str) -> Path:
    """Write a file and return its path."""
    path.write_text(text, encoding="utf-8")
    return path
