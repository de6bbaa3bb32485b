"""The configuration file: pydantic models for every section, loaded with positions for errors.

Device entries are validated in two steps: the core checks `type` and `name`, then the driver
registered for that `type` validates the rest with its own model. Errors from both steps are
collected and reported together, each with `file:line:col`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from hub.entity import EntityId
from hub.errors import ConfigError, Issue
from hub.history.settings import HistorySettings
from hub.validation import suggest, validate_model
from hub.yamlfile import load_file, position

_SLUG = re.compile(r"^[a-z0-9_]+$")


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors, values are not silently coerced to text."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class HubSection(Strict):
    """`hub:` — the installation itself."""

    name: str = "Hausmeister"
    data_dir: Path = Path("data")
    time_zone: str | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    elevation: float = 0.0

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone '{value}' (write it like Europe/Berlin)") from None
        return value


class TlsSettings(Strict):
    """`mqtt.tls:` — encrypted connection to the broker."""

    ca_certs: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    insecure: bool = False


class MqttSettings(Strict):
    """`mqtt:` — the broker the hub connects to (one shared connection)."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    client_id: str = "hausmeister"
    keepalive: int = Field(default=30, ge=5, le=3600)
    tls: TlsSettings | None = None
    base_topic: str = "hausmeister"
    max_payload_bytes: int = Field(default=262_144, ge=1024)
    reconnect_min: float = Field(default=0.5, gt=0)
    reconnect_max: float = Field(default=30.0, gt=0)
    publish_states: bool = True
    accept_commands: bool = True

    @field_validator("base_topic")
    @classmethod
    def _no_wildcards(cls, value: str) -> str:
        if not value or any(c in value for c in "+#") or value.endswith("/"):
            raise ValueError("the base topic must be a plain topic such as 'hausmeister' (no +, # or trailing /)")
        return value


class RulesSection(Strict):
    """`rules:` — where the automation rules live, and how the rule engine behaves."""

    directory: Path = Path("rules")
    traces: int = Field(default=20, ge=1, le=1000)  # kept per rule
    reload_interval: float = Field(default=3.0, gt=0)  # seconds between checks for changed rule files
    loop_limit: int = Field(default=10, ge=1)  # self-triggered runs allowed per loop_window ...
    loop_window: float = Field(default=60.0, gt=0)  # ... seconds, before the rule is suspended


class DeviceConfig(Strict):
    """Base of every driver's config: its `type` (which driver) and a `name` unique in the file."""

    type: str
    name: str

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(f"'{value}' is not a valid device name: use lower-case letters, digits and '_'")
        return value

    def entity_ids(self) -> Iterable[tuple[str, tuple[str | int, ...]]]:
        """The entity ids this device declares in the file, each with its path (for duplicate checks)."""
        return ()


class HubConfig(Strict):
    """The whole file. `devices` holds raw entries here; `load_config` validates them per driver."""

    hub: HubSection = HubSection()
    mqtt: MqttSettings = MqttSettings()
    rules: RulesSection = RulesSection()
    history: HistorySettings = HistorySettings()
    devices: list[dict[str, Any]] = []
    log_level: Literal["debug", "info", "warning", "error"] = "info"


@dataclass
class Config:
    """A validated configuration: the settings, the typed device configs, and where it came from."""

    settings: HubConfig
    devices: list[DeviceConfig] = field(default_factory=list)
    path: Path | None = None

    @property
    def base_dir(self) -> Path:
        """The folder relative paths in the file are taken from."""
        return self.path.parent if self.path else Path.cwd()

    @property
    def data_dir(self) -> Path:
        """The data directory (SQLite files, persisted timers), made absolute."""
        return (self.base_dir / self.settings.hub.data_dir).resolve()

    @property
    def rules_dir(self) -> Path:
        """The rules directory, made absolute."""
        return (self.base_dir / self.settings.rules.directory).resolve()


def load_config(path: Path, drivers: Mapping[str, type[DeviceConfig]]) -> Config:
    """Read, resolve secrets, validate every section and every device; raise all issues at once."""
    root = load_file(path)
    return parse_config(root, str(path), drivers, path=path)


def parse_config(
    root: Any, filename: str, drivers: Mapping[str, type[DeviceConfig]], *, path: Path | None = None
) -> Config:
    """Validate already-loaded YAML data (with positions) into a `Config`."""
    if not isinstance(root, dict):
        raise ConfigError.single(
            filename, 1, 1, "the configuration must be a mapping of sections (hub:, mqtt:, devices: …)"
        )
    issues: list[Issue] = []
    settings = HubConfig()
    try:
        settings = validate_model(HubConfig, root, root=root, filename=filename)
    except ConfigError as exc:
        issues.extend(exc.issues)
    devices = _validate_devices(root, filename, drivers, issues)
    if issues:
        raise ConfigError(sorted(set(issues), key=lambda i: (i.line, i.column)))
    return Config(settings, devices, path)


def _validate_devices(
    root: Any, filename: str, drivers: Mapping[str, type[DeviceConfig]], issues: list[Issue]
) -> list[DeviceConfig]:
    raw = root.get("devices") or []
    if not isinstance(raw, list):
        return []
    devices: list[DeviceConfig] = []
    names: set[str] = set()
    entities: set[str] = set()
    for index, entry in enumerate(raw):
        loc = ("devices", index)
        if not isinstance(entry, dict):
            continue  # reported by HubConfig (a list of mappings)
        kind = entry.get("type")
        model = drivers.get(kind) if isinstance(kind, str) else None
        if model is None:
            line, col = position(root, [*loc, "type"])
            issues.append(Issue(filename, line, col, _unknown_type(kind, drivers)))
            continue
        try:
            device = validate_model(model, entry, root=root, filename=filename, prefix=loc)
        except ConfigError as exc:
            issues.extend(exc.issues)
            continue
        if device.name in names:
            line, col = position(root, [*loc, "name"])
            issues.append(Issue(filename, line, col, f"there is already a device named '{device.name}'"))
        names.add(device.name)
        for entity_id, sub in device.entity_ids():
            if entity_id in entities:
                line, col = position(root, [*loc, *sub])
                issues.append(Issue(filename, line, col, f"the entity '{entity_id}' is defined twice"))
            entities.add(entity_id)
        devices.append(device)
    return devices


def _unknown_type(kind: Any, drivers: Mapping[str, type[DeviceConfig]]) -> str:
    if kind is None:
        return f"a device needs a 'type' (one of: {', '.join(sorted(drivers))})"
    hint = suggest(str(kind), drivers)
    if hint:
        return f"unknown device type '{kind}' — did you mean '{hint}'?"
    return f"unknown device type '{kind}' (known types: {', '.join(sorted(drivers))})"


def entity_id_field(value: str) -> str:
    """Validate a `kind.object_id` string for use in a field validator."""
    return str(EntityId.parse(value))
