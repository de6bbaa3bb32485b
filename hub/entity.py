"""Entities: what a device offers, named `kind.object_id`, with Home Assistant's vocabulary per kind.

A kind says which states an entity can be in, which commands it takes, which parameters each
command accepts and which reported state confirms that the device carried it out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

_OBJECT_ID = re.compile(r"^[a-z0-9_]+$")

# Which states confirm a command, given the parameters and the value before the command.
Confirms = Callable[[Mapping[str, Any], Any], frozenset[Any] | None]


@dataclass(frozen=True)
class Param:
    """One command parameter: its type and whether it must be given."""

    type: type
    required: bool = False


@dataclass(frozen=True)
class ActionSpec:
    """A command of a kind: its parameters and the states that confirm it (None: no state to wait for)."""

    params: Mapping[str, Param] = field(default_factory=dict)
    confirms: Confirms = lambda _params, _before: None


@dataclass(frozen=True)
class KindSpec:
    """A kind of entity: its possible states (None: any value) and its commands."""

    states: frozenset[str] | None
    actions: Mapping[str, ActionSpec]


def _to(*states: str) -> Confirms:
    allowed = frozenset(states)
    return lambda _params, _before: allowed


def _toggled(_params: Mapping[str, Any], before: Any) -> frozenset[Any]:
    return frozenset({"off"}) if before == "on" else frozenset({"on"})


def _param_value(name: str) -> Confirms:
    return lambda params, _before: frozenset({params[name]})


_ON_OFF = frozenset({"on", "off"})
_SWITCH_ACTIONS = {
    "turn_on": ActionSpec(confirms=_to("on")),
    "turn_off": ActionSpec(confirms=_to("off")),
    "toggle": ActionSpec(confirms=_toggled),
}

KINDS: Mapping[str, KindSpec] = {
    "switch": KindSpec(_ON_OFF, _SWITCH_ACTIONS),
    "light": KindSpec(_ON_OFF, _SWITCH_ACTIONS),
    "sensor": KindSpec(None, {}),
    "binary_sensor": KindSpec(_ON_OFF, {}),
    "valve": KindSpec(
        frozenset({"open", "closed", "opening", "closing"}),
        {
            "open": ActionSpec({"duration": Param(float)}, _to("open", "opening")),
            "close": ActionSpec(confirms=_to("closed", "closing")),
        },
    ),
    "lawn_mower": KindSpec(
        frozenset({"mowing", "paused", "docked", "returning", "error"}),
        {
            "start_mowing": ActionSpec(confirms=_to("mowing")),
            "pause": ActionSpec(confirms=_to("paused")),
            "dock": ActionSpec(confirms=_to("docked", "returning")),
        },
    ),
    "button": KindSpec(None, {"press": ActionSpec()}),
    "number": KindSpec(None, {"set_value": ActionSpec({"value": Param(float, required=True)}, _param_value("value"))}),
    "select": KindSpec(
        None, {"select_option": ActionSpec({"option": Param(str, required=True)}, _param_value("option"))}
    ),
}


@dataclass(frozen=True, order=True)
class EntityId:
    """`kind.object_id`, validated: a known kind and an object id of lower-case letters, digits and `_`."""

    kind: str
    object_id: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown entity kind '{self.kind}' (known kinds: {', '.join(sorted(KINDS))})")
        if not _OBJECT_ID.match(self.object_id):
            raise ValueError(f"'{self.object_id}' is not a valid entity name: use lower-case letters, digits and '_'")

    @classmethod
    def parse(cls, text: str) -> EntityId:
        """Parse `kind.object_id`, with a message a person understands when it is malformed."""
        kind, dot, object_id = text.partition(".")
        if not dot:
            raise ValueError(f"'{text}' is not an entity id: write it as kind.name, e.g. switch.{text}")
        return cls(kind, object_id)

    def __str__(self) -> str:
        return f"{self.kind}.{self.object_id}"


@dataclass(frozen=True)
class EntitySpec:
    """What a driver announces about one entity."""

    entity_id: str
    name: str | None = None
    unit: str | None = None
    device_class: str | None = None
    command_timeout: float = 10.0
    device: str | None = None  # the driver instance that owns it

    @property
    def kind(self) -> str:
        """The kind part of the entity id."""
        return self.entity_id.partition(".")[0]

    @property
    def display_name(self) -> str:
        """The name to show a person."""
        return self.name or self.entity_id.partition(".")[2].replace("_", " ").capitalize()
