"""What simulators share about their broker connection: pulling the plug.

A device that loses power does not say goodbye: its TCP connection just dies and the broker
publishes its last will. `pull_plug` does exactly that to a simulator's connection, so the hub
sees the same messages as with a real device.
"""

from __future__ import annotations

import contextlib
import socket

import aiomqtt


def pull_plug(client: aiomqtt.Client) -> None:
    """Cut the client's TCP connection without an MQTT DISCONNECT (the broker then sends the will)."""
    # aiomqtt keeps the paho client in `_client`; paho's `socket()` is its public accessor.
    sock = client._client.socket()
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
