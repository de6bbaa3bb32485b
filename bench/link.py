"""The load generator's instruments: an MQTT link that matches actions to the readings that caused
them, and a watch on the process under test (CPU, RSS from /proc).

paho-mqtt is driven by `select` from the generator's one thread (no paho thread, so no lock
hand-offs between sending and receiving).
"""

from __future__ import annotations

import json
import math
import select
import socket
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench import sysstats
from bench.scenario import ACTION_TOPIC, topic


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank `q` quantile (0 < q ≤ 1) of `values`, or None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def summary(latencies: list[float]) -> dict[str, float | None]:
    """p50 / p99 / p99.9 / max latency in milliseconds."""
    ms = [x * 1000 for x in latencies]
    return {
        "p50_ms": percentile(ms, 0.50),
        "p99_ms": percentile(ms, 0.99),
        "p999_ms": percentile(ms, 0.999),
        "max_ms": max(ms) if ms else None,
    }


class Link:
    """One MQTT connection: publishes readings, matches actions to the readings that caused them."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
        client.max_inflight_messages_set(0)  # unlimited QoS-1 in flight: the burst must not wait for acks
        client.on_message = self._on_message
        client.on_subscribe = lambda *_args: setattr(self, "_subscribed", True)
        self.client = client
        self.pending: dict[int, float] = {}  # seq → send time of readings whose action is awaited
        self.latencies: list[float] = []
        self.stray = 0  # actions nobody waited for (late, duplicated or wrong)
        self.last_arrival = 0.0
        self._subscribed = False
        self._misc_at = 0.0
        client.connect(host, port, keepalive=60)
        sock = client.socket()
        assert isinstance(sock, socket.socket)
        self._sock = sock
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the hub and the floor do
        self._until(client.is_connected, 10, "the broker did not accept the connection")
        client.subscribe(f"{ACTION_TOPIC}+", 0)
        self._until(lambda: self._subscribed, 10, "the broker did not confirm the subscription")

    def _until(self, done: Callable[[], bool], seconds: float, failure: str) -> None:
        deadline = time.monotonic() + seconds
        while not done():
            if time.monotonic() > deadline:
                raise SystemExit(failure)
            self.pump(0.05)

    def _on_message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        now = time.monotonic()
        try:
            seq = json.loads(message.payload)["seq"]
        except (ValueError, KeyError, TypeError):
            self.stray += 1
            return
        sent = self.pending.pop(seq, None)
        if sent is None:
            self.stray += 1
            return
        self.latencies.append(now - sent)
        self.last_arrival = now

    def publish(self, sensor: int, payload: bytes, *, qos: int = 0, seq: int | None = None) -> None:
        """Send one reading; with `seq`, wait for the action that carries it."""
        if seq is not None:
            self.pending[seq] = time.monotonic()
        self.client.publish(topic(sensor), payload, qos)

    def pump(self, timeout: float) -> None:
        """Wait up to `timeout` for the socket, then read what arrived and write what is queued."""
        client = self.client
        writing = [self._sock] if client.want_write() else []
        readable, writable, _ = select.select([self._sock], writing, [], max(timeout, 0.0))
        if writable:
            client.loop_write()
        if readable:
            # paho reads one packet per call; keep reading while the socket has more.
            for _ in range(1000):
                client.loop_read()
                if not select.select([self._sock], [], [], 0)[0]:
                    break
        now = time.monotonic()
        if now - self._misc_at > 1.0:
            self._misc_at = now
            client.loop_misc()

    def flush(self, seconds: float = 5.0) -> None:
        """Wait until every queued packet has left (bounded)."""
        deadline = time.monotonic() + seconds
        while self.client.want_write() and time.monotonic() < deadline:
            self.pump(0.01)

    def await_pending(self, seconds: float) -> None:
        """Read actions until none is pending or `seconds` have passed."""
        deadline = time.monotonic() + seconds
        while self.pending and time.monotonic() < deadline:
            self.pump(min(0.05, deadline - time.monotonic()))

    def take(self) -> tuple[list[float], int]:
        """The latencies measured so far and the count of readings still unanswered; both reset."""
        latencies, lost = self.latencies, len(self.pending)
        self.latencies, self.pending = [], {}
        return latencies, lost

    def close(self) -> None:
        """Disconnect politely."""
        self.client.disconnect()
        self.flush(1.0)


class Watch:
    """CPU and RSS of the process under test: a reading at each boundary, RSS samples between."""

    def __init__(self, pid: int | None, every: float = 0.1) -> None:
        self.pid = pid
        self.every = every
        self.peak_rss = 0
        self._next = 0.0

    def now(self) -> sysstats.Sample | None:
        """A reading right now (None without a process to watch)."""
        return sysstats.sample(self.pid) if self.pid else None

    def tick(self) -> None:
        """Sample RSS if it is time to."""
        now = time.monotonic()
        if self.pid and now >= self._next:
            self._next = now + self.every
            self.peak_rss = max(self.peak_rss, sysstats.rss_bytes(self.pid) or 0)

    def settle(self, seconds: float, idle: float = 0.1) -> None:
        """Wait (bounded) until the process uses under 10 % of a core, so its backlog is done."""
        if not self.pid:
            return
        deadline = time.monotonic() + seconds
        before = sysstats.cpu_seconds(self.pid) or 0.0
        while time.monotonic() < deadline:
            time.sleep(idle)
            after = sysstats.cpu_seconds(self.pid) or 0.0
            if after - before < idle / 10:
                return
            before = after
