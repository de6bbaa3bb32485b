"""The configuration of a line-protocol serial device (`type: serial_line`), checked at load time.

Each entity says which incoming lines carry its state (`pattern`, a regular expression searched in
every line; named groups become template variables, the group `value` — else the first group,
else the whole match — is the value), how to turn that into a state (`value_template`,
`value_map`), and which line each command sends (`commands`, templates with the entity's `vars`
and the command's parameters). See `devices.serial.line` for an example.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from devices.serial.config import SerialDeviceConfig
from hub.config import Strict, entity_id_field
from hub.entity import KINDS
from hub.template import check_template

LINE_KINDS = ("switch", "light", "valve", "sensor", "binary_sensor", "button", "number")
_REQUIRED_COMMANDS: dict[str, frozenset[str]] = {
    "switch": frozenset({"turn_on", "turn_off"}),
    "light": frozenset({"turn_on", "turn_off"}),
    "valve": frozenset({"open", "close"}),
    "button": frozenset({"press"}),
    "number": frozenset({"set_value"}),
}
LINE_ENDINGS: dict[str, bytes] = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}

Scalar = str | int | float | bool


def _compiles_as_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"'{value}' is not a valid regular expression: {exc}") from None
    return value


def _compiles_as_template(value: str) -> str:
    check_template(value)
    return value


class LineEntityConfig(Strict):
    """One entity of a line-protocol device."""

    id: str
    name: str | None = None
    unit: str | None = None
    device_class: str | None = None
    vars: dict[str, Scalar] = Field(default_factory=dict)
    pattern: str | None = None
    value_template: str | None = None
    value_map: dict[str, Scalar] | None = None
    commands: dict[str, str] = Field(default_factory=dict)
    command_timeout: float = Field(default=10.0, gt=0)

    @field_validator("id")
    @classmethod
    def _entity_id(cls, value: str) -> str:
        entity_id = entity_id_field(value)
        if entity_id.partition(".")[0] not in LINE_KINDS:
            raise ValueError(f"a serial_line device offers {', '.join(LINE_KINDS)} entities, not '{value}'")
        return entity_id

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return _compiles_as_regex(value)

    @field_validator("value_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return _compiles_as_template(value) if value is not None else None

    @field_validator("commands")
    @classmethod
    def _command_templates(cls, value: dict[str, str]) -> dict[str, str]:
        for template in value.values():
            _compiles_as_template(template)
        return value

    @property
    def kind(self) -> str:
        """The entity's kind (`switch`, `valve`, …)."""
        return self.id.partition(".")[0]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        actions = KINDS[self.kind].actions
        for action in self.commands:
            if action not in actions:
                offered = ", ".join(sorted(actions)) or "no commands"
                raise ValueError(f"a {self.kind} has no command '{action}' (it offers: {offered})")
        missing = _REQUIRED_COMMANDS.get(self.kind, frozenset()) - set(self.commands)
        if missing:
            raise ValueError(f"a {self.kind} needs commands for {', '.join(sorted(missing))}")
        if not self.commands and self.pattern is None:
            raise ValueError(f"a {self.kind} needs a pattern: the regular expression of the lines that carry its state")
        states = KINDS[self.kind].states
        for raw, state in (self.value_map or {}).items():
            if states is not None and state not in states:
                raise ValueError(
                    f"value_map turns '{raw}' into '{state}', but a {self.kind} is one of {sorted(states)}"
                )
        return self


class SerialLineConfig(SerialDeviceConfig):
    """`type: serial_line` — an Arduino-style board that speaks in text lines."""

    type: Literal["serial_line"]
    line_ending: Literal["lf", "crlf", "cr"] = "lf"
    max_line_length: int = Field(default=1024, ge=16, le=65536)
    reply: str | None = None
    reply_timeout: float = Field(default=2.0, gt=0)
    on_connect: list[str] = Field(default_factory=list)
    startup_delay: float = Field(default=0.0, ge=0, le=60)
    entities: list[LineEntityConfig] = Field(min_length=1)

    @field_validator("reply")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return _compiles_as_regex(value)

    def entity_ids(self) -> list[tuple[str, tuple[str | int, ...]]]:
        """The entity ids declared here with their paths."""
        return [(e.id, ("entities", i, "id")) for i, e in enumerate(self.entities)]
