"""Username/password and TLS to the broker: the hub connects with the right settings and says
clearly when they are wrong, without giving up."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.supervisor import Hub
from tests.broker import Mosquitto
from tests.conftest import eventually
from tests.hubs import make_config


@pytest.fixture
def secure_broker() -> Iterator[Mosquitto]:
    broker = Mosquitto(users={"hausmeister": "correct horse"}, tls=True)
    broker.start()
    yield broker
    broker.stop()


def _security(broker: Mosquitto, password: str) -> str:
    # make_config writes the mqtt: section; these keys continue it.
    return f"  username: hausmeister\n  password: {password}\n  tls:\n    ca_certs: {broker.ca_cert}\n"


async def test_hub_connects_with_tls_and_password(tmp_path: Path, secure_broker: Mosquitto) -> None:
    config = make_config(tmp_path, secure_broker, _security(secure_broker, "correct horse"))
    async with Hub(config) as hub:
        assert hub.mqtt is not None
        await asyncio.wait_for(hub.mqtt.wait_connected(), 10)


async def test_wrong_password_is_reported_and_retried(
    tmp_path: Path, secure_broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    config = make_config(tmp_path, secure_broker, _security(secure_broker, "wrong"))
    async with Hub(config) as hub:
        await eventually(lambda: hub.counters.get("mqtt.disconnects") >= 2)
        assert hub.mqtt is not None
        assert not hub.mqtt.connected
    assert any(
        "Cannot reach the MQTT broker" in r.getMessage() and "Not authorized" in r.getMessage() for r in caplog.records
    ), [r.getMessage() for r in caplog.records]
