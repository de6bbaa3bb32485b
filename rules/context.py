"""What triggers, conditions and actions reach at run time: the hub and the engine's shared parts.

One `Services` object per engine, passed to every part of every rule — narrow and explicit, so
the parts never hold the engine itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from rules.deadlines import Deadlines
from rules.eager import Spawn
from rules.guard import Chain, LoopGuard
from rules.hubapi import RulesHub
from rules.location import Location
from rules.outbox import Outbox
from rules.templates import Helpers
from rules.traces import TraceBook
from rules.watch import StateWatch


class RuleControl(Protocol):
    """What actions may ask of the engine about other rules."""

    def run_rule(self, rule_id: str, trigger: Mapping[str, Any], chain: Chain, skip_conditions: bool) -> str:
        """Start another rule; says what came of it (raises `RuleError` for an unknown rule)."""
        ...

    def set_enabled(self, rule_id: str, enabled: bool, reason: str) -> None:
        """Turn a rule on or off (raises `RuleError` for an unknown rule)."""
        ...

    def on_hub_start(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` when the hub has started; returns the function that stops it."""
        ...


@dataclass
class Services:
    """The engine's shared parts, handed to every trigger, condition and action."""

    hub: RulesHub
    location: Location
    helpers: Helpers
    watch: StateWatch
    guard: LoopGuard
    deadlines: Deadlines
    outbox: Outbox
    book: TraceBook
    spawn: Spawn
    control: RuleControl
    notify_topic: str
    closing: bool = False

    def time(self) -> float:
        """The clock's time now."""
        return self.hub.clock.time()
