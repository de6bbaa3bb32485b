"""Traces: what each run of a rule saw and did, kept per rule and written to SQLite in batches.

A trace records the trigger with its values, each condition with the values it saw and its
result, and each action with its timing and result or error. A trigger whose conditions failed
leaves a trace too ("why didn't it run?"). The last N traces per rule are kept in memory for the
panel and the CLI and written to `rules.db` in the data directory every few seconds, so they
survive restarts without a disk write per run.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

PAYLOAD_LIMIT = 500  # characters of an MQTT payload kept in a trace


@dataclass(slots=True)
class ConditionStep:
    """One condition as a run saw it."""

    path: str
    what: str
    result: bool
    seen: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"path": self.path, "what": self.what, "result": self.result, "seen": self.seen, "error": self.error}


@dataclass(slots=True)
class ActionStep:
    """One action of a run: when it started and ended, what came of it."""

    path: str
    what: str
    started: float
    ended: float | None = None
    result: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "path": self.path,
            "what": self.what,
            "started": self.started,
            "ended": self.ended,
            "result": self.result,
            "error": self.error,
        }


# What a run came to, in words for the CLI and the panel.
OUTCOMES = {
    "running": "still running",
    "ran": "ran",
    "conditions": "did not run: conditions not met",
    "failed": "failed",
    "stopped": "stopped",
    "cancelled": "cancelled",
    "interrupted": "interrupted: the hub stopped while it ran",
    "dropped": "dropped",
    "suspended": "suspended",
}


@dataclass(slots=True)
class Trace:
    """One run of one rule (or one trigger whose conditions failed)."""

    rule_id: str
    run_id: int
    started: float
    trigger: Mapping[str, Any]
    conditions: list[ConditionStep] = field(default_factory=list)
    actions: list[ActionStep] = field(default_factory=list)
    outcome: str = "running"
    message: str | None = None
    ended: float | None = None
    saved: bool = False

    def finish(self, outcome: str, ended: float, message: str | None = None) -> None:
        """Record how the run ended."""
        self.outcome = outcome
        self.ended = ended
        self.message = message
        self.saved = False

    def as_dict(self) -> dict[str, Any]:
        """The JSON form stored in `rules.db`."""
        return {
            "rule_id": self.rule_id,
            "run_id": self.run_id,
            "started": self.started,
            "ended": self.ended,
            "outcome": self.outcome,
            "message": self.message,
            "trigger": _json_safe_trigger(self.trigger),
            "conditions": [c.as_dict() for c in self.conditions],
            "actions": [a.as_dict() for a in self.actions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trace:
        """Rebuild a stored trace."""
        return cls(
            rule_id=data["rule_id"],
            run_id=data["run_id"],
            started=data["started"],
            trigger=data.get("trigger") or {},
            conditions=[ConditionStep(**c) for c in data.get("conditions", ())],
            actions=[ActionStep(**a) for a in data.get("actions", ())],
            outcome=data.get("outcome", "ran"),
            message=data.get("message"),
            ended=data.get("ended"),
            saved=True,
        )

    def to_json(self) -> str:
        """Compact JSON (datetimes and other values written as text)."""
        return json.dumps(self.as_dict(), separators=(",", ":"), default=str)


def _json_safe_trigger(trigger: Mapping[str, Any]) -> dict[str, Any]:
    # The parsed payload is dropped (the text is kept) and long payloads are cut: traces stay small.
    safe = {k: v for k, v in trigger.items() if k != "payload_json"}
    payload = safe.get("payload")
    if isinstance(payload, str) and len(payload) > PAYLOAD_LIMIT:
        safe["payload"] = payload[:PAYLOAD_LIMIT] + "…"
    return safe


class TraceBook:
    """The last `keep` traces of every rule, in memory; tells the writer which ones changed."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._traces: dict[str, deque[Trace]] = {}
        self._next_id: dict[str, int] = {}
        self._dirty: dict[str, None] = {}
        self.pending = asyncio.Event()  # set when something waits to be written

    def next_run_id(self, rule_id: str) -> int:
        """A new run id for the rule (continues after the stored ones)."""
        run_id = self._next_id.get(rule_id, 1)
        self._next_id[rule_id] = run_id + 1
        return run_id

    def add(self, trace: Trace) -> None:
        """Keep a new trace (the oldest of the rule falls out)."""
        traces = self._traces.get(trace.rule_id)
        if traces is None:
            traces = self._traces[trace.rule_id] = deque(maxlen=self.keep)
        traces.append(trace)
        self._dirty[trace.rule_id] = None
        self.pending.set()

    def changed(self, trace: Trace) -> None:
        """A kept trace was updated (its run ended)."""
        trace.saved = False
        self._dirty[trace.rule_id] = None
        self.pending.set()

    def restore(self, trace: Trace) -> None:
        """Put back a trace read from disk (at start)."""
        self._traces.setdefault(trace.rule_id, deque(maxlen=self.keep)).append(trace)
        self._next_id[trace.rule_id] = max(self._next_id.get(trace.rule_id, 1), trace.run_id + 1)

    def latest(self, rule_id: str) -> list[Trace]:
        """The rule's kept traces, newest first."""
        return list(reversed(self._traces.get(rule_id, ())))

    def take_dirty(self) -> Iterator[tuple[str, list[Trace]]]:
        """Every rule with changed traces, with the traces to write; marks them written."""
        dirty, self._dirty = self._dirty, {}
        for rule_id in dirty:
            traces = self._traces.get(rule_id)
            if not traces:
                continue
            changed = [t for t in traces if not t.saved]
            for trace in changed:
                trace.saved = True
            yield rule_id, changed
