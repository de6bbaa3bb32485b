"""Hausmeister's core: configuration, entities and states, the event bus, commands, the clock —
and the assembly (`Hub`, the CLI) that wires devices, rules and the web panel together.

The core modules import nothing from `devices`, `rules` or `web`; only `hub.supervisor`,
`hub.cli` and `hub.demo` do. `Hub` is imported lazily so `import hub.clock` stays cheap.
"""

from typing import TYPE_CHECKING, Any

from hub.bus import EventBus, Subscription
from hub.clock import Clock, FakeClock, SystemClock
from hub.commands import Command, Commands
from hub.config import Config, DeviceConfig, HubConfig, load_config, parse_config
from hub.counters import Counters
from hub.entity import KINDS, EntityId, EntitySpec
from hub.errors import CommandError, CommandTimeout, ConfigError, DriverError, HubError, Issue, RuleError
from hub.state import State
from hub.store import StateStore

if TYPE_CHECKING:
    from hub.supervisor import Hub

__all__ = [
    "KINDS",
    "Clock",
    "Command",
    "CommandError",
    "CommandTimeout",
    "Commands",
    "Config",
    "ConfigError",
    "Counters",
    "DeviceConfig",
    "DriverError",
    "EntityId",
    "EntitySpec",
    "EventBus",
    "FakeClock",
    "Hub",
    "HubConfig",
    "HubError",
    "Issue",
    "RuleError",
    "State",
    "StateStore",
    "Subscription",
    "SystemClock",
    "load_config",
    "parse_config",
]


def __getattr__(name: str) -> Any:
    if name == "Hub":
        from hub.supervisor import Hub

        return Hub
    raise AttributeError(name)
