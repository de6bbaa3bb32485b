"""Traces and rule lists as text for people: `hausmeister rules trace` and `rules list`.

Run 12 · Mon 2026-05-11 05:40:00 · ran · 0.3 s
  trigger    dry (numeric_state): sensor.bed1_soil_moisture 42 → 28, held 10 min
  condition  ✓ time 05:00–09:00  [now: Mon 05:40:00]
  condition  ✓ state binary_sensor.rain = off for 3 h  [binary_sensor.rain: off]
  action     valve.open valve.bed1_zone → confirmed after 0.3 s
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rules.durations import format_duration
from rules.location import Location
from rules.traces import OUTCOMES, Trace


def format_trace(trace: Trace, location: Location) -> str:
    """A trace as a few readable lines."""
    started = location.local(trace.started).strftime("%a %Y-%m-%d %H:%M:%S")
    outcome = OUTCOMES.get(trace.outcome, trace.outcome) + (f": {trace.message}" if trace.message else "")
    took = f" · {format_duration(trace.ended - trace.started)}" if trace.ended is not None and trace.actions else ""
    lines = [
        f"Run {trace.run_id} · {started} · {outcome}{took}",
        f"  trigger    {describe_trigger(trace.trigger, location)}",
    ]
    for step in trace.conditions:
        mark = "✓" if step.result else "✗"
        seen = f"  [{_values(step.seen)}]" if step.seen else ""
        error = f"  error: {step.error}" if step.error else ""
        lines.append(f"  condition  {_indent(step.path)}{mark} {step.what}{seen}{error}")
    for action in trace.actions:
        at = location.local(action.started).strftime("%H:%M:%S")
        if action.error:
            result = f"✗ {action.error}" + (f" ({action.result})" if action.result else "")
        else:
            result = action.result or "still running"
        lines.append(f"  action     {_indent(action.path)}{action.what} → {result}  [{at}]")
    return "\n".join(lines)


def _indent(path: str) -> str:
    # Nested parts (inside if / choose / repeat) are indented by their depth.
    depth = max(0, (path.count("/") - 1) // 2)
    return "  " * depth


def _values(seen: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in seen.items())


def describe_trigger(trigger: Mapping[str, Any], location: Location) -> str:
    """What fired, with its values."""
    platform = trigger.get("platform", "?")
    head = f"{trigger.get('id')} ({platform})"
    if "resumed_run" in trigger:
        head = f"resumed run {trigger['resumed_run']} after a restart; first {head}"
    details = ""
    if platform in ("state", "numeric_state", "availability"):
        before, after = _state(trigger.get("from_state")), _state(trigger.get("to_state"))
        held = f", held {format_duration(trigger['for'])}" if trigger.get("for") else ""
        details = f": {trigger.get('entity_id')} {before} → {after}{held}"
    elif platform == "mqtt":
        details = f": {trigger.get('topic')} {str(trigger.get('payload'))[:120]!r}"
    elif "scheduled" in trigger:
        details = f": scheduled for {trigger['scheduled']}"
    elif platform == "rule":
        details = f": started by rule '{trigger.get('by')}'"
    if "late" in trigger:
        details += f" ({format_duration(trigger['late'])} late: the hub was down)"
    return head + details


def _state(view: Any) -> str:
    if not isinstance(view, Mapping):
        return "unknown"
    return str(view.get("state"))
