"""Commands: validated against the entity's kind, routed to the owning driver, confirmed by the device.

`Commands.run()` returns only when the device reports the state the command asked for (a switch
that was told `turn_on` reports `on`), or raises `CommandTimeout` after the entity's timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.bus import EventBus
from hub.clock import Clock
from hub.counters import Counters
from hub.entity import KINDS, ActionSpec
from hub.errors import CommandError, CommandTimeout, HubError
from hub.events import CommandConfirmed, CommandFailed, CommandIssued
from hub.state import State
from hub.store import StateStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Command:
    """An action for one entity, with its parameters, already validated."""

    entity_id: str
    action: str
    params: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""


Executor = Callable[[Command], Awaitable[None]]


def validate(entity_id: str, action: str, params: Mapping[str, Any], store: StateStore) -> ActionSpec:
    """Check that the entity exists and its kind has this action with these parameters."""
    spec = store.spec(entity_id)
    if spec is None:
        raise CommandError(f"there is no entity '{entity_id}'")
    kind = KINDS[spec.kind]
    action_spec = kind.actions.get(action)
    if action_spec is None:
        offered = ", ".join(sorted(kind.actions)) or "no commands at all"
        raise CommandError(f"a {spec.kind} has no command '{action}' (it offers: {offered})")
    for name in params:
        if name not in action_spec.params:
            allowed = ", ".join(sorted(action_spec.params)) or "none"
            raise CommandError(f"'{action}' takes no parameter '{name}' (parameters: {allowed})")
    for name, param in action_spec.params.items():
        if param.required and name not in params:
            raise CommandError(f"'{action}' needs the parameter '{name}'")
        if name in params and not _fits(params[name], param.type):
            raise CommandError(f"parameter '{name}' of '{action}' must be a {param.type.__name__}")
    return action_spec


def _fits(value: Any, wanted: type) -> bool:
    if wanted is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, wanted)


class Commands:
    """Routes commands to the driver that owns each entity and waits for the device to confirm."""

    def __init__(self, store: StateStore, bus: EventBus, clock: Clock, counters: Counters) -> None:
        self._store = store
        self._bus = bus
        self._clock = clock
        self._counters = counters
        self._executors: dict[str, Executor] = {}

    def route(self, entity_id: str, executor: Executor) -> None:
        """Send commands for `entity_id` to `executor` (the owning driver's `execute`)."""
        self._executors[entity_id] = executor

    def unroute(self, entity_id: str) -> None:
        """Stop routing commands for `entity_id`."""
        self._executors.pop(entity_id, None)

    async def run(
        self, entity_id: str, action: str, params: Mapping[str, Any] | None = None, *, source: str = ""
    ) -> State:
        """Carry out a command and return the state that confirmed it."""
        params = dict(params or {})
        try:
            return await self._run(Command(entity_id, action, params, source))
        except CommandError as exc:
            self._counters.inc("commands.failed")
            self._bus.publish(CommandFailed(self._clock.time(), entity_id, action, str(exc)))
            raise

    async def _run(self, command: Command) -> State:
        action_spec = validate(command.entity_id, command.action, command.params, self._store)
        executor = self._executors.get(command.entity_id)
        state = self._store.get(command.entity_id)
        if executor is None or state is None:
            raise CommandError(f"no device is connected for '{command.entity_id}'")
        if not state.available:
            raise CommandError(f"'{command.entity_id}' is unavailable: its device is not reachable")
        expected = action_spec.confirms(command.params, state.value)
        confirmed = self._store.waiter(command.entity_id, lambda s: expected is None or s.value in expected)
        started = self._clock.time()
        self._bus.publish(
            CommandIssued(started, command.entity_id, command.action, dict(command.params), command.source)
        )
        try:
            try:
                await executor(command)
            except CommandError:
                raise
            except HubError as exc:
                raise CommandError(f"'{command.entity_id}' could not be reached: {exc}") from exc
            if expected is None:
                confirmed.cancel()
                result = self._store.get(command.entity_id) or state
            else:
                result = await self._confirmation(command, confirmed)
        finally:
            confirmed.cancel()
        self._bus.publish(
            CommandConfirmed(self._clock.time(), command.entity_id, command.action, self._clock.time() - started)
        )
        return result

    async def _confirmation(self, command: Command, confirmed: asyncio.Future[State]) -> State:
        spec = self._store.spec(command.entity_id)
        timeout = spec.command_timeout if spec else 10.0
        sleeper: asyncio.Future[Any] = asyncio.ensure_future(self._clock.sleep(timeout))
        racing: set[asyncio.Future[Any]] = {confirmed, sleeper}
        try:
            await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
        if confirmed.done() and not confirmed.cancelled():
            return confirmed.result()
        raise CommandTimeout(
            f"'{command.entity_id}' did not confirm '{command.action}' within {timeout:g} s: "
            "the device may be offline or did not carry it out"
        )
