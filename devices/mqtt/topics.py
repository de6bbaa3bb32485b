"""Topic filters and the router that hands each incoming message to the handlers whose filter matches."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from devices.payload import BadPayload, preview
from hub.counters import Counters
from hub.topics import match_levels, matches, validate_filter

log = logging.getLogger(__name__)

__all__ = ["Handler", "Message", "Router", "matches", "validate_filter"]


@dataclass(frozen=True, slots=True)
class Message:
    """An MQTT message as the hub sees it."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False


Handler = Callable[[Message], None]


class Router:
    """Exact topics in a dict (one lookup), wildcard filters checked in turn."""

    def __init__(self, counters: Counters) -> None:
        self._counters = counters
        self._exact: dict[str, list[Handler]] = {}
        self._wild: list[tuple[str, list[str], Handler]] = []
        self._qos: dict[str, int] = {}

    def add(self, topic_filter: str, handler: Handler, qos: int = 1) -> Callable[[], None]:
        """Route messages matching `topic_filter` to `handler`; returns the function that removes it."""
        validate_filter(topic_filter)
        self._qos[topic_filter] = max(qos, self._qos.get(topic_filter, 0))
        if "+" in topic_filter or "#" in topic_filter:
            entry = (topic_filter, topic_filter.split("/"), handler)
            self._wild.append(entry)
            return lambda: self._wild.remove(entry) if entry in self._wild else None
        handlers = self._exact.setdefault(topic_filter, [])
        handlers.append(handler)
        return lambda: handlers.remove(handler) if handler in handlers else None

    def filters(self) -> Iterator[tuple[str, int]]:
        """Every filter somebody listens to, with its QoS (what to subscribe after a reconnect)."""
        yield from ((f, self._qos[f]) for f, handlers in self._exact.items() if handlers)
        yield from ((f, self._qos[f]) for f in dict.fromkeys(f for f, _, _ in self._wild))

    def dispatch(self, message: Message) -> int:
        """Call every matching handler; a handler that rejects the payload is logged and counted."""
        handlers = list(self._exact.get(message.topic, ()))
        if self._wild:
            levels = message.topic.split("/")
            handlers.extend(h for _, pattern, h in self._wild if match_levels(pattern, levels))
        for handler in handlers:
            try:
                handler(message)
            except BadPayload as exc:
                self._counters.inc("mqtt.bad_payload")
                log.warning("Ignored a message on '%s': the payload %s", message.topic, exc)
            except Exception:
                self._counters.inc("mqtt.handler_error")
                log.exception(
                    "A handler failed on a message on '%s' (payload %s)", message.topic, preview(message.payload)
                )
        return len(handlers)
