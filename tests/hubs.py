"""Building hubs for tests from YAML text, against the test broker."""

from __future__ import annotations

from pathlib import Path

from devices.registry import config_models, load_registry
from hub.config import Config, load_config
from tests.broker import Mosquitto


def make_config(
    tmp_path: Path,
    broker: Mosquitto,
    body: str,
    *,
    base_topic: str = "hausmeister",
    extra_models: dict[str, type] | None = None,
) -> Config:
    """A config file in `tmp_path` with an `mqtt:` section for `broker` followed by `body`."""
    text = (
        f"hub:\n  data_dir: data\nmqtt:\n  host: {broker.host}\n  port: {broker.port}\n"
        f"  client_id: hm-{tmp_path.name}\n  base_topic: {base_topic}\n  reconnect_min: 0.1\n  reconnect_max: 0.5\n"
        + body
    )
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, {**config_models(load_registry()), **(extra_models or {})})
