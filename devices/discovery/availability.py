"""Availability of a discovered entity: one `availability_topic`, or an `availability` list with a mode.

Modes (Home Assistant's `availability_mode`): `latest` — the last message on any topic decides;
`all` — available once every topic said available; `any` — available while at least one says so.
Without any availability topic an entity is always available; with one it starts unavailable.
"""

from __future__ import annotations

from dataclasses import dataclass

from devices.discovery.schema import Common
from devices.discovery.values import IGNORE, decode, render_value
from devices.payload import BadPayload, preview


@dataclass(frozen=True)
class Source:
    """One availability topic and what it says when the device is up or down."""

    topic: str
    available: str = "online"
    not_available: str = "offline"
    template: str | None = None


def sources(config: Common) -> tuple[Source, ...]:
    """The availability topics a config announces (none, the single topic, or the list)."""
    if config.availability_topic:
        return (
            Source(
                config.availability_topic,
                config.payload_available,
                config.payload_not_available,
                config.availability_template,
            ),
        )
    return tuple(
        Source(entry.topic, entry.payload_available, entry.payload_not_available, entry.value_template)
        for entry in config.availability or ()
    )


class Availability:
    """Tracks what each availability topic last said and combines it by mode."""

    def __init__(self, config: Common) -> None:
        self.sources = sources(config)
        self.mode = config.availability_mode
        self.encoding = config.encoding
        self._said: dict[int, bool] = {}
        self._latest: bool | None = None

    @property
    def available(self) -> bool:
        """Whether the entity counts as available now."""
        if not self.sources:
            return True
        if self.mode == "all":
            return len(self._said) == len(self.sources) and all(self._said.values())
        if self.mode == "any":
            return any(self._said.values())
        return bool(self._latest)

    def update(self, index: int, payload: bytes) -> bool | None:
        """Record a message on source `index`; the combined availability, or None if the message is empty."""
        source = self.sources[index]
        text = render_value(source.template, decode(payload, self.encoding))
        if text is IGNORE:
            return None
        if text == source.available:
            said = True
        elif text == source.not_available:
            said = False
        else:
            raise BadPayload(f"{preview(text)} is neither '{source.available}' nor '{source.not_available}'")
        self._said[index] = said
        self._latest = said
        return self.available
