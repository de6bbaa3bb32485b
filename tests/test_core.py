"""The core without I/O: topic matching, the bus under overload, the state store, command validation."""

from __future__ import annotations

import asyncio

import pytest

from devices.mqtt.topics import matches, validate_filter
from hub.bus import EventBus
from hub.clock import FakeClock
from hub.commands import Command, Commands
from hub.counters import Counters
from hub.entity import EntityId, EntitySpec
from hub.errors import CommandError
from hub.events import StateChanged
from hub.store import StateStore


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("+/b", "a/b", True),
        ("#", "$SYS/broker", False),
        ("+/broker", "$SYS/broker", False),
        ("a/+/c", "a//c", True),
    ],
)
def test_topic_matching_follows_mqtt_rules(topic_filter: str, topic: str, expected: bool) -> None:
    assert matches(topic_filter, topic) is expected


@pytest.mark.parametrize("bad", ["a/#/b", "a/b#", "a/+b"])
def test_invalid_filters_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="must"):
        validate_filter(bad)


def _store() -> tuple[StateStore, EventBus, FakeClock]:
    clock = FakeClock()
    bus = EventBus(Counters())
    return StateStore(bus, clock), bus, clock


async def test_slow_subscriber_loses_events_counted_and_never_blocks_the_publisher() -> None:
    store, bus, _ = _store()
    store.add(EntitySpec("sensor.t"))
    with bus.subscribe(StateChanged, name="slow", maxsize=10) as slow, bus.subscribe(StateChanged, name="fast") as fast:
        for value in range(100):
            store.set("sensor.t", value)
        assert bus.counters.get("bus.dropped.slow") == 90
        assert bus.counters.get("bus.dropped.fast") == 0
        assert (await slow.get()).new.value == 0
        received = [fast.get_nowait() for _ in range(100)]
        assert [e.new.value for e in received if e] == list(range(100))


async def test_store_publishes_only_real_changes_and_tracks_last_changed() -> None:
    store, bus, clock = _store()
    store.add(EntitySpec("sensor.t"))
    with bus.subscribe(StateChanged, name="t") as events:
        store.set("sensor.t", 5)
        await clock.advance(10)
        store.set("sensor.t", 5)  # same value: no event
        store.set("sensor.t", 5, attributes={"battery": 80})  # attribute change: event, last_changed kept
        state = store.get("sensor.t")
        assert state is not None
        assert state.last_updated - state.last_changed == 10
        assert [e.new.value for e in [events.get_nowait(), events.get_nowait()] if e] == [5, 5]
        assert events.get_nowait() is None


async def test_commands_are_validated_against_the_entity_kind() -> None:
    store, bus, clock = _store()
    commands = Commands(store, bus, clock, bus.counters)
    store.add(EntitySpec("valve.bed1"))
    sent: list[Command] = []

    async def device(command: Command) -> None:
        sent.append(command)
        store.set(command.entity_id, "open")

    commands.route("valve.bed1", device)
    with pytest.raises(CommandError, match="'open' takes no parameter 'minutes' \\(parameters: duration\\)"):
        await commands.run("valve.bed1", "open", {"minutes": 5})
    with pytest.raises(CommandError, match="parameter 'duration' of 'open' must be a float"):
        await commands.run("valve.bed1", "open", {"duration": "long"})
    state = await asyncio.wait_for(commands.run("valve.bed1", "open", {"duration": 900}), 1)
    assert state.value == "open"
    assert sent == [Command("valve.bed1", "open", {"duration": 900})]


def test_entity_ids_explain_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"write it as kind\.name, e\.g\. switch\.pump"):
        EntityId.parse("pump")
    with pytest.raises(ValueError, match="'Pump' is not a valid entity name"):
        EntityId.parse("switch.Pump")
