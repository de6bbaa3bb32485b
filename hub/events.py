"""Typed events that travel on the event bus."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.entity import EntitySpec
from hub.state import State


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every bus event; `time` is the clock's epoch seconds when it happened."""

    time: float


@dataclass(frozen=True, slots=True)
class StateChanged(Event):
    """An entity's value, attributes or availability changed (`old` is None for a new entity)."""

    entity_id: str
    old: State | None
    new: State


@dataclass(frozen=True, slots=True)
class EntityAdded(Event):
    """A driver announced an entity."""

    spec: EntitySpec


@dataclass(frozen=True, slots=True)
class EntityRemoved(Event):
    """An entity is gone (a discovery config was deleted, a driver was removed)."""

    entity_id: str


@dataclass(frozen=True, slots=True)
class CommandIssued(Event):
    """A command was accepted and sent towards its device."""

    entity_id: str
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True, slots=True)
class CommandConfirmed(Event):
    """The device reported the state the command asked for."""

    entity_id: str
    action: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CommandFailed(Event):
    """A command was refused, failed at the device, or was not confirmed in time."""

    entity_id: str
    action: str
    error: str


@dataclass(frozen=True, slots=True)
class MqttMessage(Event):
    """A message arrived on a topic somebody in the hub subscribed to."""

    topic: str
    payload: bytes
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Notification(Event):
    """A message for the people using the hub (shown in the panel, published on MQTT)."""

    title: str
    message: str
    source: str = ""


@dataclass(frozen=True, slots=True)
class HubStarted(Event):
    """Every driver has been started and the hub is running."""


@dataclass(frozen=True, slots=True)
class HubStopping(Event):
    """The hub is shutting down."""
