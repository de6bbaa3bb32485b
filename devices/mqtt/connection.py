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
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType

import aiomqtt

from devices.mqtt.topics import Handler, Message, Router
from devices.payload import preview
from hub.clock import Clock
from hub.config import MqttSettings
from hub.counters import Counters
from hub.errors import DriverError

log = logging.getLogger(__name__)

OnConnect = Callable[[], Awaitable[None]]

ONLINE = b"online"
OFFLINE = b"offline"


class MqttConnection:
    """One connection to the broker for the whole hub."""

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
        self._client: aiomqtt.Client | None = None
        self._connected = asyncio.Event()
        self._on_connect: list[OnConnect] = []
        self._entered = False
        self._closed = False

    # --- lifecycle ------------------------------------------------------------------------------
    async def __aenter__(self) -> MqttConnection:
        if self._closed:
            raise RuntimeError("this MQTT connection was closed; create a new one")
        if self._entered:
            raise RuntimeError("this MQTT connection is already open")
        self._entered = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed = True

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
            except aiomqtt.MqttError as exc:
                was_connected = self.connected
                self._connected.clear()
                self._client = None
                if was_connected:
                    delay = self.settings.reconnect_min
                    log.warning("Lost the MQTT broker at %s: %s; reconnecting", self._address, exc)
                else:
                    log.warning("Cannot reach the MQTT broker at %s: %s; retrying in %.1f s", self._address, exc, delay)
                self._counters.inc("mqtt.disconnects")
                await self._clock.sleep(delay)
                delay = min(delay * 2, self.settings.reconnect_max)

    @property
    def _address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    async def _serve(self) -> None:
        async with self._make_client() as client:
            self._client = client
            try:
                await client.publish(self.status_topic, ONLINE, qos=1, retain=True)
                for topic_filter, qos in list(self.router.filters()):
                    await client.subscribe(topic_filter, qos=qos)
                self._connected.set()
                log.info("Connected to the MQTT broker at %s", self._address)
                for callback in list(self._on_connect):
                    await callback()
                async for message in client.messages:
                    self._dispatch(message)
            except asyncio.CancelledError:
                await self._say_goodbye(client)
                raise
            finally:
                self._connected.clear()
                self._client = None

    async def _say_goodbye(self, client: aiomqtt.Client) -> None:
        # A clean stop sends no last will, so say 'offline' ourselves before disconnecting.
        try:
            await asyncio.wait_for(client.publish(self.status_topic, OFFLINE, qos=1, retain=True), 2.0)
        except (aiomqtt.MqttError, TimeoutError):
            log.debug("Could not publish 'offline' while shutting down")

    def _make_client(self) -> aiomqtt.Client:
        s = self.settings
        tls_context = None
        if s.tls is not None:
            tls_context = ssl.create_default_context(cafile=str(s.tls.ca_certs) if s.tls.ca_certs else None)
            if s.tls.certfile:
                tls_context.load_cert_chain(str(s.tls.certfile), str(s.tls.keyfile) if s.tls.keyfile else None)
            if s.tls.insecure:
                tls_context.check_hostname = False
                tls_context.verify_mode = ssl.CERT_NONE
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password.get_secret_value() if s.password else None,
            identifier=s.client_id,
            keepalive=s.keepalive,
            will=aiomqtt.Will(self.status_topic, OFFLINE, qos=1, retain=True),
            tls_context=tls_context,
            tls_insecure=s.tls.insecure if s.tls else None,
            timeout=10,
            # Nagle's algorithm adds up to tens of milliseconds to every small message.
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            max_queued_incoming_messages=100_000,
        )

    # --- messages -------------------------------------------------------------------------------
    def _dispatch(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        if not isinstance(payload, bytes | bytearray):
            payload = b"" if payload is None else str(payload).encode()
        topic = message.topic.value
        if len(payload) > self.settings.max_payload_bytes:
            self._counters.inc("mqtt.oversized")
            log.warning(
                "Ignored a message on '%s': %d bytes is more than the limit of %d (mqtt.max_payload_bytes)",
                topic,
                len(payload),
                self.settings.max_payload_bytes,
            )
            return
        self._counters.inc("mqtt.received")
        self.router.dispatch(Message(topic, bytes(payload), message.qos, message.retain))

    async def subscribe(self, topic_filter: str, handler: Handler, *, qos: int = 1) -> Callable[[], None]:
        """Route matching messages to `handler` (now and after every reconnect); returns the remover."""
        remove = self.router.add(topic_filter, handler, qos)
        client = self._client
        if client is not None and self.connected:
            try:
                async with _keep_cancellation():
                    await client.subscribe(topic_filter, qos=qos)
            except aiomqtt.MqttError as exc:
                log.debug("Subscribe to %s deferred to the next connect: %s", topic_filter, exc)
        return remove

    async def publish(self, topic: str, payload: bytes | str, *, qos: int = 0, retain: bool = False) -> None:
        """Publish, or raise `DriverError` while the broker is unreachable."""
        client = self._client
        if client is None or not self.connected:
            raise DriverError(f"not connected to the MQTT broker at {self._address}")
        data = payload.encode() if isinstance(payload, str) else payload
        try:
            async with _keep_cancellation():
                await client.publish(topic, data, qos=qos, retain=retain)
        except aiomqtt.MqttError as exc:
            raise DriverError(f"could not publish to '{topic}' ({preview(data)}): {exc}") from exc


@contextlib.asynccontextmanager
async def _keep_cancellation() -> AsyncIterator[None]:
    """Re-raise a cancellation that arrived during the block but was swallowed on the way.

    aiomqtt waits with `asyncio.wait_for`, which on Python 3.11 drops a cancellation that arrives
    just as the awaited publish completes; the cancelled task then runs on (and a hub waiting for
    it at shutdown hangs). A cancellation request that is still pending afterwards is raised here.
    """
    task = asyncio.current_task()
    before = task.cancelling() if task is not None else 0
    yield
    if task is not None and task.cancelling() > before:
        raise asyncio.CancelledError
