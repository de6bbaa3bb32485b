"""A hub on the test broker, configured from a `devices:` YAML snippet (for the MQTT device tests)."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from devices.registry import config_models, load_registry
from hub.clock import Clock, FakeClock
from hub.config import Config, parse_config
from hub.supervisor import Hub
from hub.yamlfile import load_text
from tests.broker import Mosquitto


def hub_config(mosquitto: Mosquitto, data_dir: Path, prefix: str, devices: str, *, mqtt_extra: str = "") -> Config:
    """A validated config: the test broker, a base topic and client id of this test's own, `devices`."""
    text = (
        f"hub:\n  data_dir: {data_dir}\n"
        # A config built in code has no folder of its own: keep its rules out of the working directory.
        f"rules:\n  directory: {data_dir}/rules\n"
        f"mqtt:\n  host: {mosquitto.host}\n  port: {mosquitto.port}\n"
        f"  client_id: hub-{prefix}\n  base_topic: {prefix}/hub\n  reconnect_min: 0.05\n"
        f"{textwrap.indent(textwrap.dedent(mqtt_extra), '  ')}"
        f"devices:\n{textwrap.indent(textwrap.dedent(devices).strip(), '  ')}\n"
    )
    return parse_config(load_text(text, "test.yaml"), "test.yaml", config_models(load_registry()))


@asynccontextmanager
async def running_hub(
    mosquitto: Mosquitto,
    data_dir: Path,
    prefix: str,
    devices: str,
    *,
    clock: Clock | None = None,
    mqtt_extra: str = "",
) -> AsyncIterator[Hub]:
    """A started hub, connected to the broker (with a fake clock unless one is given)."""
    config = hub_config(mosquitto, data_dir, prefix, devices, mqtt_extra=mqtt_extra)
    async with Hub(config, clock=clock or FakeClock()) as hub:
        assert hub.mqtt is not None
        await hub.mqtt.wait_connected()
        yield hub
