"""Line-protocol serial devices (`type: serial_line`): Arduino-style boards described in YAML.

- type: serial_line
  name: irrigation_board
  port: /dev/serial/by-id/usb-Arduino__www.arduino.cc__0043_75833353035351F0E1A1-if00
  baudrate: 115200
  reply: '^(OK|ERR (?P<error>.*))$'     # the board's answer to every command line
  reply_timeout: 2
  on_connect: [STATUS]                  # sent each time the port opens: ask for the current state
  entities:
    - id: valve.bed_1
      vars: {n: 1}
      pattern: '^RELAY 1 (?P<value>ON|OFF)$'
      value_map: {"ON": open, "OFF": closed}
      commands:
        open: "RELAY {{ n }} ON{% if duration %} {{ duration | int }}{% endif %}"
        close: "RELAY {{ n }} OFF"
    - id: sensor.bed_soil_moisture
      pattern: '^MOISTURE (?P<raw>\\d+)$'
      value_template: "{{ ((1023 - raw | int) / 10.23) | round(1) }}"
      unit: "%"
      device_class: moisture

A command renders its template, sends the line and, with `reply`, waits for the answer: a reply
whose group `error` matched is a refusal (a command error showing the board's words), no reply
within `reply_timeout` is a timeout. The command is confirmed when the entity's pattern reports the
new state; an entity without a pattern is optimistic (it takes the new state once the board has
acknowledged). One command is on the wire at a time, so every reply belongs to its command.
"""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Self

from devices.base import Driver
from devices.payload import BadPayload, preview
from devices.serial.framing import LineFramer
from devices.serial.line_config import LINE_ENDINGS, LineEntityConfig, SerialLineConfig
from devices.serial.port import SerialPort
from hub.clock import Clock
from hub.commands import Command
from hub.entity import KINDS, EntitySpec
from hub.errors import CommandError, CommandTimeout
from hub.template import Template, TemplateFailure, coerce

log = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 9600  # Arduino's Serial.begin(9600) of countless sketches

# Words boards commonly print, per kind, when no value_map says otherwise (compared lower-cased).
_ON_OFF_WORDS = {
    "on": "on",
    "1": "on",
    "true": "on",
    "high": "on",
    "off": "off",
    "0": "off",
    "false": "off",
    "low": "off",
}
_VALVE_WORDS = {
    **{word: "open" for word in ("open", "opened", "on", "1")},
    **{word: "closed" for word in ("closed", "close", "off", "0")},
    "opening": "opening",
    "closing": "closing",
}
_OPTIMISTIC = {"turn_on": "on", "turn_off": "off", "open": "open", "close": "closed"}


class LineEntity:
    """One configured entity at run time: compiled pattern and templates, turning lines into states."""

    def __init__(self, config: LineEntityConfig) -> None:
        self.config = config
        self.kind = config.kind
        self.pattern = re.compile(config.pattern) if config.pattern else None
        self.value_template = Template(config.value_template) if config.value_template else None
        self.commands = {action: Template(source) for action, source in config.commands.items()}
        self.optimistic = self.pattern is None

    def spec(self) -> EntitySpec:
        """What the hub shows about this entity."""
        c = self.config
        return EntitySpec(c.id, c.name, c.unit, c.device_class, c.command_timeout)

    def value(self, match: re.Match[str]) -> Any:
        """The state a matching line reports; `BadPayload` if it is not one this kind can have."""
        groups = match.groupdict()
        raw = match.group(1) if match.re.groups else match.group(0)
        text = groups.get("value", raw) or ""
        if self.value_template is not None:
            variables = {**self.config.vars, **{k: v for k, v in groups.items() if v is not None}}
            variables.update(value=text, line=match.string)
            try:
                text = self.value_template.render(variables)
            except TemplateFailure as exc:
                raise BadPayload(f"did not fit the value template of {self.config.id} ({exc})") from None
        return self._state(text.strip())

    def _state(self, text: str) -> Any:
        mapping = self.config.value_map or {}
        if text in mapping:
            return mapping[text]
        states = KINDS[self.kind].states
        if states is None:
            value = coerce(text) if text else None
            if self.kind == "number" and not isinstance(value, int | float):
                raise BadPayload(f"reports {text!r} for {self.config.id}, which is not a number")
            return value
        words = _VALVE_WORDS if self.kind == "valve" else _ON_OFF_WORDS
        state = words.get(text.lower(), text)
        if state not in states:
            raise BadPayload(
                f"reports {text!r} for {self.config.id}, which is not a {self.kind} state "
                f"({', '.join(sorted(states))}): map it with value_map"
            )
        return state

    def command_line(self, command: Command, before: Any) -> tuple[str, Any]:
        """The line to send for a command, and the state to assume if the entity is optimistic."""
        action = command.action
        if action == "toggle" and "toggle" not in self.commands:
            action = "turn_off" if before == "on" else "turn_on"
        template = self.commands.get(action)
        if template is None:
            raise CommandError(f"'{self.config.id}' has no line configured for '{action}'")
        params: dict[str, Any] = dict.fromkeys(KINDS[self.kind].actions[action].params)
        params.update(command.params)
        variables = {**self.config.vars, **params, "action": action, "entity_id": self.config.id}
        try:
            line = template.render(variables).strip()
        except TemplateFailure as exc:
            raise CommandError(f"the command line for '{self.config.id}' {action} could not be made: {exc}") from None
        if "\n" in line or "\r" in line:
            raise CommandError(f"the command template for '{self.config.id}' {action} made more than one line")
        assumed = params.get("value") if action == "set_value" else _OPTIMISTIC.get(action)
        if action == "toggle":
            assumed = "off" if before == "on" else "on"
        return line, assumed


async def _within(future: asyncio.Future[Any], clock: Clock, seconds: float) -> bool:
    """Wait for `future` at most `seconds` of the clock's time; say whether it finished."""
    sleeper: asyncio.Future[None] = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({future, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
    return future.done()


class SerialLineDriver(Driver[SerialLineConfig]):
    """Turns a board's lines into entity states and commands into lines, confirmed by its replies."""

    config_model = SerialLineConfig

    async def __aenter__(self) -> Self:
        config = self.config
        self._entities = {c.id: LineEntity(c) for c in config.entities}
        for entity in self._entities.values():
            self.context.add_entity(entity.spec(), self.execute if entity.commands else None)
        self.context.set_available(False)  # until the port opens
        self._reply = re.compile(config.reply) if config.reply else None
        self._ending = LINE_ENDINGS[config.line_ending]
        self._lock = asyncio.Lock()
        self._pending: asyncio.Future[re.Match[str]] | None = None
        self.port = SerialPort(
            config.port_settings(baudrate=DEFAULT_BAUDRATE),
            LineFramer(config.max_line_length),
            self._on_line,
            name=self.context.name,
            clock=self.context.clock,
            counters=self.context.counters,
            on_status=self._on_status,
            on_connect=self._greet,
        )
        self._stack = AsyncExitStack()
        await self._stack.enter_async_context(self.port)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    async def run(self) -> None:
        """Keep the port open (reopening it after an unplug); lines arrive in `_on_line`."""
        await self.port.run()

    async def execute(self, command: Command) -> None:
        """Send the command's line and, with a reply matcher, wait for the board to accept it."""
        entity = self._entities[command.entity_id]
        state = self.context.state(command.entity_id)
        line, assumed = entity.command_line(command, state.value if state else None)
        async with self._lock:
            if self._reply is None:
                await self._send(line)
            else:
                await self._ask(line)
        if entity.optimistic and assumed is not None:
            self.context.set_state(command.entity_id, assumed)

    async def _send(self, line: str) -> None:
        log.debug("Serial device '%s': sending %s", self.context.name, preview(line))
        await self.port.write(line.encode() + self._ending)

    async def _ask(self, line: str) -> None:
        future: asyncio.Future[re.Match[str]] = asyncio.get_running_loop().create_future()
        self._pending = future
        try:
            await self._send(line)
            timeout = self.config.reply_timeout
            if not await _within(future, self.context.clock, timeout):
                raise CommandTimeout(
                    f"the device '{self.context.name}' did not answer {line!r} within {timeout:g} s "
                    "(is it powered and running its program?)"
                )
        finally:
            self._pending = None
            future.cancel()
        error = future.result().groupdict().get("error")
        if error is not None:
            raise CommandError(f"the device '{self.context.name}' refused {line!r}: {error or 'no reason given'}")

    async def _greet(self) -> None:
        if self.config.startup_delay:
            # Many Arduinos restart when the port opens; give the sketch time to boot.
            await self.context.clock.sleep(self.config.startup_delay)
        async with self._lock:
            for line in self.config.on_connect:
                if self._reply is None:
                    await self._send(line)
                    continue
                # Wait for its answer too, so it cannot be taken for the answer to a command.
                try:
                    await self._ask(line)
                except CommandError as exc:
                    log.warning("Serial device '%s': on connecting, %s", self.context.name, exc)

    def _on_status(self, connected: bool) -> None:
        self.context.set_available(connected)
        pending = self._pending
        if not connected and pending is not None and not pending.done():
            pending.set_exception(CommandError(f"the device '{self.context.name}' was disconnected before it answered"))

    def _on_line(self, frame: bytes) -> None:
        text = frame.decode("utf-8", "replace")
        used = self._answer(text)
        for entity in self._entities.values():
            match = entity.pattern.search(text) if entity.pattern else None
            if match is not None:
                used = True
                self._report(entity, match)
        if not used:
            self.context.counters.inc(f"serial.unmatched.{self.context.name}")
            log.debug("Serial device '%s': no entity uses the line %s", self.context.name, preview(text))

    def _answer(self, text: str) -> bool:
        pending = self._pending
        if self._reply is None or pending is None or pending.done():
            return False
        match = self._reply.search(text)
        if match is None:
            return False
        pending.set_result(match)
        return True

    def _report(self, entity: LineEntity, match: re.Match[str]) -> None:
        try:
            value = entity.value(match)
        except BadPayload as exc:
            log.warning("Serial device '%s': ignored a line that %s", self.context.name, exc)
            self.context.counters.inc(f"serial.bad_line.{self.context.name}")
            return
        self.context.set_state(entity.config.id, value)
