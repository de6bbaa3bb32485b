"""Reading one discovery message: its topic, its JSON, abbreviations, the `~` base and device-based form.

    <prefix>/<component>/[<node_id>/]<object_id>/config     one component
    <prefix>/device/<object_id>/config                       several, under "components" ("cmps")

The result says which components the topic now announces. A component whose config is wrong is
reported in `problems` and listed in `kept`: whatever that topic announced before stays as it was.
An empty payload announces nothing (the entities go away).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devices.discovery.abbreviations import expand_all, replace_topic_base
from devices.discovery.schema import OTHER_COMPONENTS, SCHEMAS, Common, validate
from devices.payload import preview

_TOPIC = re.compile(r"^(?P<component>\w+)/(?:(?P<node_id>[a-zA-Z0-9_-]+)/)?(?P<object_id>[a-zA-Z0-9_-]+)/config$")

# Options of a device-based payload that every component inherits unless it sets them itself.
_SHARED = (
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "payload_available",
    "payload_not_available",
    "command_topic",
    "state_topic",
    "qos",
    "encoding",
    "~",
)


class BadDiscovery(ValueError):
    """The whole message is unusable (wrong topic, not JSON, not an object, unknown component)."""


class Unsupported(ValueError):
    """A component Home Assistant knows but Hausmeister does not handle (e.g. a climate device)."""


@dataclass(frozen=True)
class Announcement:
    """What one discovery topic announces now."""

    topic: str
    key: str  # the discovery id: "switch/irrigation", "sensor/node/temp", "device/0AFFD2"
    node_id: str | None
    object_id: str
    components: Mapping[str, Common] = field(default_factory=dict)  # component id ("" if single) → config
    kept: frozenset[str] = frozenset()  # components whose new config was wrong: keep the old one
    problems: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()
    unknown_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Address:
    """The parts of a discovery topic."""

    component: str
    node_id: str | None
    object_id: str

    @property
    def key(self) -> str:
        """The discovery id, unique per topic."""
        return "/".join(part for part in (self.component, self.node_id, self.object_id) if part)


def address(topic: str, prefix: str) -> Address:
    """Split `<prefix>/<component>/[<node_id>/]<object_id>/config`, or raise `BadDiscovery`."""
    match = _TOPIC.match(topic.removeprefix(prefix + "/"))
    if not topic.startswith(prefix + "/") or match is None:
        raise BadDiscovery(
            "the topic is not <prefix>/<component>/[<node_id>/]<object_id>/config "
            "(ids may use letters, digits, '_' and '-')"
        )
    return Address(match["component"], match["node_id"], match["object_id"])


def parse(topic: str, payload: bytes, prefix: str) -> Announcement:
    """Read a discovery message; raise `BadDiscovery` or `Unsupported` when nothing can be taken from it."""
    where = address(topic, prefix)
    if where.component != "device" and where.component not in SCHEMAS:
        if where.component in OTHER_COMPONENTS:
            raise Unsupported(f"Hausmeister does not handle '{where.component}' devices yet")
        raise BadDiscovery(f"'{where.component}' is not a Home Assistant component")
    base = Announcement(topic, where.key, where.node_id, where.object_id)
    if not payload.strip():
        return base
    body = _json_object(payload)
    expand_all(body)
    if where.component == "device":
        return _device(base, body)
    return _single(base, where.component, body)


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        body = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadDiscovery("the config is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BadDiscovery(f"the config is not JSON ({exc.msg}): {preview(payload)}") from None
    if not isinstance(body, dict):
        raise BadDiscovery(f"the config must be a JSON object, got {type(body).__name__}: {preview(payload)}")
    return body


def _single(base: Announcement, component: str, body: dict[str, Any]) -> Announcement:
    if body.get("migrate_discovery") is True:
        return base  # the device is moving to device-based discovery: this topic announces nothing now
    replace_topic_base(body)
    try:
        config = validate(component, body)
    except ValueError as exc:
        return _with(base, kept=frozenset({""}), problems=(str(exc),))
    return _with(base, components={"": config}, unknown_keys=tuple(config.unknown_keys()))


def _device(base: Announcement, body: dict[str, Any]) -> Announcement:
    components = body.pop("components", None)
    if not isinstance(components, dict) or not components:
        raise BadDiscovery("a device config needs 'components' ('cmps'): a mapping of component ids to configs")
    if not isinstance(body.get("device"), dict) or not isinstance(body.get("origin"), dict):
        raise BadDiscovery("a device config needs both 'device' ('dev') and 'origin' ('o') mappings")
    found: dict[str, Common] = {}
    kept: set[str] = set()
    problems: list[str] = []
    unsupported: list[str] = []
    unknown: list[str] = []
    for component_id, raw in components.items():
        outcome = _component(str(component_id), raw, body)
        if isinstance(outcome, Common):
            found[str(component_id)] = outcome
            unknown.extend(f"{component_id}.{key}" for key in outcome.unknown_keys())
        elif outcome == "unsupported":
            unsupported.append(str(component_id))
        elif outcome:
            kept.add(str(component_id))
            problems.append(f"component '{component_id}': {outcome}")
    return _with(
        base,
        components=found,
        kept=frozenset(kept),
        problems=tuple(problems),
        unsupported=tuple(unsupported),
        unknown_keys=tuple(unknown),
    )


def _component(component_id: str, raw: Any, root: Mapping[str, Any]) -> Common | str:
    """A validated config, '' when the entry only removes the component, 'unsupported', or a problem."""
    if not isinstance(raw, dict):
        return "must be a JSON object"
    config = dict(raw)
    expand_all(config)
    platform = config.pop("platform", None)
    if not isinstance(platform, str):
        return "needs a 'platform' ('p'), e.g. \"p\": \"sensor\""
    if platform not in SCHEMAS:
        return "unsupported" if platform in OTHER_COMPONENTS else f"'{platform}' is not a Home Assistant component"
    if not config:
        return ""  # only the platform: Home Assistant's way to remove one component
    for key in _SHARED:
        if key in root and key not in config:
            config[key] = root[key]
    config["device"], config["origin"] = root["device"], root["origin"]
    replace_topic_base(config)
    try:
        return validate(platform, config)
    except ValueError as exc:
        return str(exc)


def _with(base: Announcement, **changes: Any) -> Announcement:
    return Announcement(**{**base.__dict__, **changes})
