"""The hub's one shared MQTT connection: reconnects with backoff, resubscribes, birth and last will.

    async with MqttConnection(settings, clock=clock, counters=counters) as mqtt:
        await mqtt.subscribe("tele/plug/SENSOR", handler)
        # run() keeps the connection alive; a supervisor task runs it
        await mqtt.run()

Messages are handed to synchronous handlers (see `Router`) straight from the read loop, so the
hot path has no task switch per message. While the broker is away, `publish` raises `DriverError`
and every subscription is restored on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import paho.mqtt.client as paho

from devices.mqtt.client import ClientOptions, MqttFailure, PahoClient
from devices.mqtt.topics import Handler, Message, Router
from devices.payload import preview
from hub.clock import Clock
from hub.config import MqttSettings
from hub.counters import Counters
from hub.errors import DriverError
from hub.resource import SingleUse

log = logging.getLogger(__name__)

OnConnect = Callable[[], Awaitable[None]]

ONLINE = b"online"
OFFLINE = b"offline"


class MqttConnection(SingleUse):
    """One connection to the broker for the whole hub."""

    what = "this MQTT connection"

    def __init__(
        self,
        settings: MqttSettings,
        *,
        clock: Clock,
        counters: Counters,
        status_topic: str | None = None,
        base_dir: str = ".",
    ) -> None:
        self.settings = settings
        self.status_topic = status_topic or f"{settings.base_topic}/status"
        self.router = Router(counters)
        self._clock = clock
        self._counters = counters
        self._base_dir = base_dir
        self._client: PahoClient | None = None
        self._was_up = False
        self._connected = asyncio.Event()
        self._on_connect: list[OnConnect] = []

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up right now."""
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Return once connected (at once if already)."""
        await self._connected.wait()

    def on_connect(self, callback: OnConnect) -> None:
        """Run `callback` after every (re)connect, once subscriptions are restored."""
        self._on_connect.append(callback)

    async def run(self) -> None:
        """Stay connected until cancelled: connect, serve, and reconnect with exponential backoff."""
        delay = self.settings.reconnect_min
        while True:
            try:
                await self._serve()
            except MqttFailure as exc:
                if self._was_up:
                    delay = self.settings.reconnect_min
                    log.warning("Lost the MQTT broker at %s (%s); reconnecting", self._address, exc)
                else:
                    log.warning("Cannot reach the MQTT broker at %s: %s; retrying in %.1f s", self._address, exc, delay)
                self._counters.inc("mqtt.disconnects")
                await self._clock.sleep(delay)
                delay = min(delay * 2, self.settings.reconnect_max)

    @property
    def _address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    async def _serve(self) -> None:
        self._was_up = False
        client = PahoClient(self._options(), self._dispatch)
        await client.connect()
        self._client = client
        try:
            client.publish(self.status_topic, ONLINE, qos=1, retain=True)
            # One SUBSCRIBE for every filter: a reconnect with hundreds of entities is one round trip.
            await client.subscribe_many(list(self.router.filters()))
            self._connected.set()
            self._was_up = True
            log.info("Connected to the MQTT broker at %s", self._address)
            for callback in list(self._on_connect):
                await callback()
            await client.disconnected
        except asyncio.CancelledError:
            # A clean stop sends no last will, so say 'offline' ourselves before disconnecting.
            with contextlib.suppress(MqttFailure):
                client.publish(self.status_topic, OFFLINE, qos=1, retain=True)
            await client.disconnect()
            raise
        finally:
            self._connected.clear()
            self._client = None
            client.close()

    def _options(self) -> ClientOptions:
        s = self.settings
        tls_context = None
        if s.tls is not None:
            base = Path(self._base_dir)
            ca = str(base / s.tls.ca_certs) if s.tls.ca_certs else None
            tls_context = ssl.create_default_context(cafile=ca)
            if s.tls.certfile:
                keyfile = str(base / s.tls.keyfile) if s.tls.keyfile else None
                tls_context.load_cert_chain(str(base / s.tls.certfile), keyfile)
            if s.tls.insecure:
                tls_context.check_hostname = False
                tls_context.verify_mode = ssl.CERT_NONE
        return ClientOptions(
            s.host,
            s.port,
            s.client_id,
            keepalive=s.keepalive,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            tls_context=tls_context,
            will=(self.status_topic, OFFLINE, 1, True),
        )

    # --- messages -------------------------------------------------------------------------------
    def _dispatch(self, message: paho.MQTTMessage) -> None:
        payload = message.payload
        if len(payload) > self.settings.max_payload_bytes:
            self._counters.inc("mqtt.oversized")
            log.warning(
                "Ignored a message on '%s': %d bytes is more than the limit of %d (mqtt.max_payload_bytes)",
                message.topic,
                len(payload),
                self.settings.max_payload_bytes,
            )
            return
        self._counters.inc("mqtt.received")
        self.router.dispatch(Message(message.topic, bytes(payload), message.qos, message.retain))

    async def subscribe(self, topic_filter: str, handler: Handler, *, qos: int = 1) -> Callable[[], None]:
        """Route matching messages to `handler` (now and after every reconnect); returns the remover."""
        remove = self.router.add(topic_filter, handler, qos)
        client = self._client
        # Not `self.connected`: while _serve() restores the filters it copied, a new one must be sent here.
        if client is not None:
            try:
                await client.subscribe(topic_filter, qos)
            except MqttFailure as exc:
                log.debug("Subscribe to %s deferred to the next connect: %s", topic_filter, exc)
        return remove

    async def publish(self, topic: str, payload: bytes | str, *, qos: int = 0, retain: bool = False) -> None:
        """Publish, or raise `DriverError` while the broker is unreachable."""
        client = self._client
        # `_client` is set once the broker accepted us; handlers of retained messages may answer even
        # before every filter is restored and `connected` is announced.
        if client is None:
            raise DriverError(f"not connected to the MQTT broker at {self._address}")
        data = payload.encode() if isinstance(payload, str) else payload
        try:
            client.publish(topic, data, qos, retain)
        except MqttFailure as exc:
            raise DriverError(f"could not publish to '{topic}' ({preview(data)}): {exc}") from exc
