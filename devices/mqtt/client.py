"""paho-mqtt driven by the asyncio event loop, with messages handed to a callback synchronously.

Why not aiomqtt's message iterator: it creates a task and an `asyncio.wait` per incoming message.
Measured on the 2-core test machine, 50 000 QoS-0 messages from a separate process:
paho's own callback loop 26 700 msg/s (12.6 µs CPU per message); through aiomqtt's iterator
11 200 msg/s (32 µs per message). The hub reads every sensor reading from MQTT, so it uses paho
directly, the way aiomqtt does it internally (socket readiness callbacks on the loop), but calls
our router straight from paho's `on_message`.

    client = PahoClient(options, on_message=handle)
    await client.connect()          # raises MqttFailure with the broker's reason
    await client.subscribe("a/#", 1)
    client.publish("a/b", b"x")
    await client.disconnected       # resolves (with MqttFailure) when the connection drops
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

_SOCKET_OPTIONS = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
# Packets read per readiness callback before the loop gets a turn again (fairness under a flood).
_MAX_READS = 100


class MqttFailure(Exception):
    """The broker could not be reached, refused us, or the connection dropped."""


@dataclass(frozen=True)
class ClientOptions:
    """What is needed to open one MQTT connection."""

    host: str
    port: int
    client_id: str
    keepalive: int = 30
    username: str | None = None
    password: str | None = None
    tls_context: ssl.SSLContext | None = None
    will: tuple[str, bytes, int, bool] | None = None  # topic, payload, qos, retain
    connect_timeout: float = 10.0


OnMessage = Callable[[paho.MQTTMessage], None]


class PahoClient:
    """One connection attempt's life: connect, serve, and tell when it ended."""

    def __init__(self, options: ClientOptions, on_message: OnMessage) -> None:
        self._options = options
        self._loop = asyncio.get_running_loop()
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=options.client_id, protocol=paho.MQTTv311, clean_session=True
        )
        if options.username is not None:
            client.username_pw_set(options.username, options.password)
        if options.tls_context is not None:
            client.tls_set_context(options.tls_context)
        if options.will is not None:
            topic, payload, qos, retain = options.will
            client.will_set(topic, payload, qos, retain)
        client.on_message = self._on_message
        self._deliver = on_message
        self._delivered = 0  # messages handed over so far: tells _read() whether a read found one
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        self._client = client
        self._connected: asyncio.Future[None] = self._loop.create_future()
        self.disconnected: asyncio.Future[None] = self._loop.create_future()
        self._subscribes: dict[int, asyncio.Future[None]] = {}
        self._misc: asyncio.TimerHandle | None = None
        self._loop_thread = threading.get_ident()
        self._flush_due = False  # a flush of queued packets is scheduled on the loop
        self._writer_fd: int | None = None  # the socket was full: a writer waits for it to drain

    async def connect(self) -> None:
        """Open the connection and wait for the broker's CONNACK."""
        options = self._options
        try:
            # The TCP (and TLS) handshake blocks; keep it off the event loop.
            await self._loop.run_in_executor(None, self._client.connect, options.host, options.port, options.keepalive)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise MqttFailure(str(exc) or type(exc).__name__) from None
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
        # arrives as the CONNACK does, and a hub stopping during start-up would then hang.
        try:
            async with asyncio.timeout(options.connect_timeout):
                await asyncio.shield(self._connected)
        except TimeoutError:
            self.close()
            raise MqttFailure(f"no answer from the broker within {options.connect_timeout:g} s") from None

    async def subscribe(self, topic_filter: str, qos: int) -> None:
        """Subscribe and wait for the broker's SUBACK."""
        await self.subscribe_many([(topic_filter, qos)])

    async def subscribe_many(self, filters: list[tuple[str, int]]) -> None:
        """Subscribe to several filters in one SUBSCRIBE packet (one round trip) and wait for the SUBACK."""
        if not filters:
            return
        result, mid = self._client.subscribe(filters)
        if result != paho.MQTT_ERR_SUCCESS or mid is None:
            raise MqttFailure(f"subscribe to {len(filters)} topics failed: {paho.error_string(result)}")
        future = self._subscribes[mid] = self._loop.create_future()
        racing: set[asyncio.Future[Any]] = {future, self.disconnected}
        await asyncio.wait(racing, return_when=asyncio.FIRST_COMPLETED)
        if not future.done():
            raise MqttFailure("the connection dropped while subscribing")

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        """Queue a message for sending; raise MqttFailure if the connection is gone."""
        info = self._client.publish(topic, payload, qos, retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_QUEUE_SIZE):
            raise MqttFailure(paho.error_string(info.rc))

    async def disconnect(self) -> None:
        """Send DISCONNECT (no last will) and wait (up to 2 s) until the socket is closed."""
        self._client.disconnect()
        with contextlib.suppress(TimeoutError, MqttFailure):
            async with asyncio.timeout(2.0):
                await asyncio.shield(self.disconnected)
        self.close()

    def close(self) -> None:
        """Drop the socket without a goodbye."""
        if self._misc is not None:
            self._misc.cancel()
        sock = self._client.socket()
        if sock is not None:
            self._forget(sock)
            with contextlib.suppress(OSError):
                sock.close()
        self._end(MqttFailure("closed"))

    # --- paho callbacks (run on the loop, except socket_open which may run in the executor) -------
    def _on_connect(self, _c: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            self._fail_connect(MqttFailure(f"the broker refused the connection: {reason}"))
        elif not self._connected.done():
            self._connected.set_result(None)

    def _fail_connect(self, exc: MqttFailure) -> None:
        if not self._connected.done():
            self._connected.set_exception(exc)
        self._end(exc)

    def _on_disconnect(self, _c: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        failure = MqttFailure(f"disconnected: {reason}")
        if not self._connected.done():
            self._connected.set_exception(failure)
        self._end(failure)

    def _on_subscribe(self, _c: paho.Client, _u: Any, mid: int, _codes: Any, _p: Any) -> None:
        future = self._subscribes.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _end(self, exc: MqttFailure) -> None:
        if not self.disconnected.done():
            self.disconnected.set_exception(exc)
            self.disconnected.exception()  # mark retrieved: an ended connection is not an error to report

    def _on_socket_open(self, _c: paho.Client, _u: Any, sock: Any) -> None:
        def start() -> None:
            for option in _SOCKET_OPTIONS:
                with contextlib.suppress(OSError):
                    sock.setsockopt(*option)  # Nagle off: small messages go out at once
            self._loop.add_reader(sock.fileno(), self._read)
            self._misc = self._loop.call_later(1.0, self._tick)

        self._loop.call_soon_threadsafe(start)

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        self._delivered += 1
        self._deliver(message)

    def _read(self) -> None:
        # paho reads one packet per loop_read(). Under load many packets wait in the socket: read
        # on while reads bring messages, instead of paying an event-loop round (epoll_wait and
        # callbacks) for each. A read that brings none (socket drained, half a packet, or a control
        # packet such as PUBACK) ends the batch; anything left wakes the (level-triggered) loop again.
        client = self._client
        try:
            for _ in range(_MAX_READS):
                before = self._delivered
                client.loop_read()
                sock = client.socket()
                if sock is None or (self._delivered == before and not _decoded_waiting(sock)):
                    break
        except Exception as exc:
            self._end(MqttFailure(f"read failed: {exc}"))

    def _tick(self) -> None:
        # Keep-alive pings and retries; paho needs this about once a second.
        if self._client.loop_misc() == paho.MQTT_ERR_SUCCESS:
            self._misc = self._loop.call_later(1.0, self._tick)

    def _on_socket_close(self, _c: paho.Client, _u: Any, sock: Any) -> None:
        self._forget(sock)

    def _forget(self, sock: Any) -> None:
        fileno = sock.fileno()
        if fileno > -1:
            self._loop.remove_reader(fileno)
            self._loop.remove_writer(fileno)
        self._writer_fd = None

    # paho asks for a write for every packet it queues. Instead of arming a writer per packet (two
    # epoll_ctl calls, a self-pipe wake-up and a loop round each), queued packets are flushed once
    # per loop iteration; a writer is armed only when the socket is full and must drain first.
    def _on_register_write(self, _c: paho.Client, _u: Any, _sock: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            self._schedule_flush()
        else:  # CONNECT is queued from the executor thread that opens the socket
            self._loop.call_soon_threadsafe(self._schedule_flush)

    def _schedule_flush(self) -> None:
        if not self._flush_due and self._writer_fd is None:
            self._flush_due = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_due = False
        self._write()

    def _write(self) -> None:
        client = self._client
        sock = client.socket()
        try:
            # paho sends each packet with its own send(): corked, the kernel packs them into full
            # segments, so a flush of many small messages costs the TCP stack (and the broker) once.
            with _corked(sock):
                client.loop_write()
        except Exception as exc:
            self._end(MqttFailure(f"write failed: {exc}"))
            return
        sock = client.socket()
        if client.want_write() and sock is not None:
            if self._writer_fd is None:
                self._writer_fd = sock.fileno()
                self._loop.add_writer(self._writer_fd, self._write)
        else:
            self._disarm_writer()

    def _disarm_writer(self) -> None:
        if self._writer_fd is not None:
            self._loop.remove_writer(self._writer_fd)
            self._writer_fd = None

    def _on_unregister_write(self, _c: paho.Client, _u: Any, _sock: Any) -> None:
        self._disarm_writer()


@contextlib.contextmanager
def _corked(sock: Any) -> Iterator[None]:
    """TCP_CORK on `sock` for the duration (a no-op where there is no such option or socket)."""
    cork = getattr(socket, "TCP_CORK", None)
    if cork is None or not isinstance(sock, socket.socket):
        yield
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, cork, 0)


def _decoded_waiting(sock: Any) -> bool:
    """Whether an SSL socket holds decoded bytes that select() does not see (paho issue #131)."""
    return hasattr(sock, "pending") and bool(sock.pending() > 0)
