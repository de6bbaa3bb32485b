"""The embedded MQTT broker for the demo (amqtt, installed from PyPI), so the demo needs no system
package. Production points the hub at Mosquitto instead."""

from __future__ import annotations

import errno
import socket
from types import TracebackType
from typing import Any, Self

from amqtt.broker import Broker

from hub.errors import HubError


class PortInUse(HubError):
    """Something already listens on the broker's port."""


def ensure_free(host: str, port: int) -> None:
    """Raise `PortInUse` with a helpful message if `host:port` is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PortInUse(
                f"Port {port} on {host} is already in use, probably by another MQTT broker (Mosquitto?). "
                f"Start the demo on another port with 'hausmeister demo --mqtt-port {port + 1}', "
                "or write a config that points at that broker and use 'hausmeister run -c CONFIG'."
            ) from None


class _Broker(Broker):  # type: ignore[misc]
    """amqtt's broker with one fix: retained messages go only to subscriptions of the session itself.

    amqtt 0.12 replays, at every connect, the retained messages for the topic filters of *every*
    client: a new `mosquitto_sub -t 'hausmeister/#'` also got `zigbee2mqtt/bridge/state`.
    """

    async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int], session: Any) -> None:
        holders = self._subscriptions.get(subscription[0], [])
        if any(holder is session for holder, _qos in holders):
            await super()._publish_retained_messages_for_subscription(subscription, session)


class EmbeddedBroker:
    """An amqtt broker on `host:port`, anonymous access, for the demo."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = port
        self._broker: Broker | None = None

    async def __aenter__(self) -> Self:
        ensure_free(self.host, self.port)
        self._broker = _Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            }
        )
        await self._broker.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
