"""The floor: the least any Python program on paho-mqtt can do for the benchmark's rule.

    python -m bench.floor --port 1883 [--max-seconds 900]

Subscribes to every sensor, decodes each reading's JSON, and when the value is above 50 publishes
`{"seq": n}` to `bench/action/<k>` — what the hub's rule does, with nothing else (no entities, no
history, no rule engine). It uses paho-mqtt, the library the hub uses, in paho's own network loop,
with TCP_NODELAY like the hub. Every hub figure is shown beside this one, measured in the same run.
It prints `ready` once subscribed and stops by itself after `--max-seconds`.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.scenario import ACTION_TOPIC, SENSOR_TOPIC

_PREFIX = len(SENSOR_TOPIC)


def on_message(client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
    """Filter and republish: the rule 'value above 50 → publish {"seq": n}'."""
    try:
        reading = json.loads(message.payload)
        if reading["value"] > 50:
            client.publish(ACTION_TOPIC + message.topic[_PREFIX:], b'{"seq": %d}' % reading["seq"])
    except (ValueError, KeyError, TypeError):
        pass  # a garbled reading is ignored, as the hub ignores it (the hub also counts it)


def main(argv: list[str] | None = None) -> int:
    """Echo until killed or `--max-seconds` have passed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, default=900)
    args = parser.parse_args(argv)
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-floor", protocol=paho.MQTTv311)
    client.on_message = on_message
    client.on_connect = lambda c, *_a: c.subscribe(f"{SENSOR_TOPIC}+", 1)
    client.on_subscribe = lambda *_a: print("ready", flush=True)
    client.connect(args.host, args.port, keepalive=60)
    sock = client.socket()
    assert isinstance(sock, socket.socket)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    deadline = time.monotonic() + args.max_seconds
    while time.monotonic() < deadline:
        if client.loop(timeout=0.5) != paho.MQTT_ERR_SUCCESS:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
