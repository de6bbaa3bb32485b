"""Start interlocks: the mower refuses `start_mowing` while a configured entity is on (rain, say).

A refusal is a `CommandError` that a person reads in the panel, e.g.
"The mower will not start: binary_sensor.rain is on (rain)".
An entity that is missing, unavailable or unknown refuses too (unless `refuse_start_when_unknown`
is false), because an interlock the hub cannot evaluate must not silently let the mower out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from hub.entity import EntitySpec
from hub.state import State


def start_refusal(
    entity_ids: Sequence[str],
    state: Callable[[str], State | None],
    spec: Callable[[str], EntitySpec | None],
    *,
    refuse_unknown: bool,
) -> str | None:
    """Why the mower must not start now, or None when every interlock is clear."""
    reasons = [reason for entity_id in entity_ids if (reason := _reason(entity_id, state, spec, refuse_unknown))]
    return "The mower will not start: " + "; ".join(reasons) if reasons else None


def _reason(
    entity_id: str, state: Callable[[str], State | None], spec: Callable[[str], EntitySpec | None], refuse_unknown: bool
) -> str | None:
    current = state(entity_id)
    if current is None:
        return f"{entity_id} does not exist, so the hub cannot tell whether it is safe" if refuse_unknown else None
    if current.available and current.value == "on":
        return f"{entity_id} is on{_label(spec(entity_id))}"
    if refuse_unknown and (not current.available or current.value is None):
        return f"{entity_id} is {current.display}, so the hub cannot tell whether it is safe"
    return None


def _label(spec: EntitySpec | None) -> str:
    # "(rain)": the device class says why it matters; else the entity's own name, if it has one.
    if spec is None:
        return ""
    label = spec.device_class or spec.name
    return f" ({label})" if label else ""
