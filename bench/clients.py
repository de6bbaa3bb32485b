"""MQTT client libraries compared on the hub's own traffic shape, in the same run.

    python -m bench.clients --client hub-adapter --port 1883     # one echo process
    python -m bench --only clients                               # the comparison

Each echo does the floor's job — decode each reading, publish `{"seq": n}` to `bench/action/<k>`
when the value is above 50 — and, like the hub's state mirror, also republishes every reading
(retained) to `bench/mirror/<k>`: one message in, about 1.1 out, the shape that bounds the hub.
The load generator sends the mixed load at one rate; the figure is the echo's CPU per reading.

- `paho-loop`: paho-mqtt in its own network loop (the floor's way)
- `hub-adapter`: paho-mqtt driven by asyncio through the hub's `devices.mqtt.client.PahoClient`
- `aiomqtt`: aiomqtt's message iterator (what the hub used before the adapter)
- `gmqtt`: gmqtt, a pure-asyncio client (asyncio Protocol: the socket is read in large chunks)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.scenario import ACTION_TOPIC, SENSOR_TOPIC

CLIENTS = ("paho-loop", "hub-adapter", "aiomqtt", "gmqtt")
_PREFIX = len(SENSOR_TOPIC)
Publish = Callable[[str, bytes | bytearray, bool], object]


def echo(topic: str, payload: bytes | bytearray, publish: Publish) -> None:
    """The job: mirror the reading, and publish the action when the value is above 50."""
    sensor = topic[_PREFIX:]
    publish(f"bench/mirror/{sensor}", payload, True)
    try:
        reading = json.loads(payload)
        if reading["value"] > 50:
            publish(ACTION_TOPIC + sensor, b'{"seq": %d}' % reading["seq"], False)
    except (ValueError, KeyError, TypeError):
        pass


def _ready() -> None:
    print("ready", flush=True)


def run_paho_loop(host: str, port: int, seconds: float) -> None:
    """paho-mqtt in its own network loop."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-paho-loop", protocol=paho.MQTTv311)
    client.on_message = lambda c, _u, m: echo(m.topic, m.payload, lambda t, p, r: c.publish(t, p, 0, r))
    client.on_connect = lambda c, *_a: c.subscribe(f"{SENSOR_TOPIC}+", 1)
    client.on_subscribe = lambda *_a: _ready()
    client.connect(host, port, keepalive=60)
    sock = client.socket()
    assert isinstance(sock, socket.socket)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and client.loop(timeout=0.5) == paho.MQTT_ERR_SUCCESS:
        pass


async def run_hub_adapter(host: str, port: int, seconds: float) -> None:
    """paho-mqtt on the event loop through the hub's adapter."""
    import paho.mqtt.client as paho

    from devices.mqtt.client import ClientOptions, PahoClient

    holder: list[PahoClient] = []

    def on_message(message: paho.MQTTMessage) -> None:
        echo(message.topic, message.payload, lambda t, p, r: holder[0].publish(t, bytes(p), 0, r))

    client = PahoClient(ClientOptions(host, port, "bench-hub-adapter"), on_message)
    holder.append(client)
    await client.connect()
    await client.subscribe(f"{SENSOR_TOPIC}+", 1)
    _ready()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(client.disconnected), seconds)
    client.close()


async def run_aiomqtt(host: str, port: int, seconds: float) -> None:
    """aiomqtt's message iterator."""
    import aiomqtt

    async with aiomqtt.Client(host, port, identifier="bench-aiomqtt") as client:
        # Benchmark only: TCP_NODELAY as the others have it (aiomqtt offers no option for it).
        client._client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
        await client.subscribe(f"{SENSOR_TOPIC}+", 1)
        _ready()
        pending: list[tuple[str, bytes | bytearray, bool]] = []

        def publish(topic: str, payload: bytes | bytearray, retain: bool) -> None:
            pending.append((topic, payload, retain))

        async def serve() -> None:
            async for message in client.messages:
                echo(message.topic.value, bytes(message.payload), publish)  # type: ignore[arg-type, unused-ignore]
                for topic, payload, retain in pending:
                    await client.publish(topic, payload, 0, retain)
                pending.clear()

        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(serve(), seconds)


async def run_gmqtt(host: str, port: int, seconds: float) -> None:
    """gmqtt (asyncio Protocol; asyncio sets TCP_NODELAY itself)."""
    import gmqtt  # type: ignore[import-untyped]
    from gmqtt.mqtt.constants import MQTTv311  # type: ignore[import-untyped]

    client = gmqtt.Client("bench-gmqtt")
    subscribed = asyncio.Event()

    def on_message(c: Any, topic: str, payload: bytes, _qos: int, _props: Any) -> int:
        echo(topic, payload, lambda t, p, r: c.publish(t, p, qos=0, retain=r))
        return 0

    client.on_message = on_message
    client.on_subscribe = lambda *_a: subscribed.set()
    await client.connect(host, port, version=MQTTv311)
    client.subscribe(f"{SENSOR_TOPIC}+", qos=1)
    await subscribed.wait()
    _ready()
    await asyncio.sleep(seconds)
    await client.disconnect()


def available(name: str) -> str | None:
    """Why a client cannot be compared here, or None."""
    module = {"paho-loop": "paho", "hub-adapter": "paho", "aiomqtt": "aiomqtt", "gmqtt": "gmqtt"}[name]
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed (pip install '.[bench]')"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run one echo until `--max-seconds` have passed (or it is terminated)."""
    parser = argparse.ArgumentParser(prog="python -m bench.clients", description=__doc__)
    parser.add_argument("--client", choices=CLIENTS, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, default=300)
    args = parser.parse_args(argv)
    if args.client == "paho-loop":
        run_paho_loop(args.host, args.port, args.max_seconds)
    else:
        runner = {"hub-adapter": run_hub_adapter, "aiomqtt": run_aiomqtt, "gmqtt": run_gmqtt}[args.client]
        asyncio.run(runner(args.host, args.port, args.max_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
