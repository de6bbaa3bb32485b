"""A rule at run time: triggers attached, conditions checked, runs started by its mode.

`fire()` is the hot path (an MQTT message, a state change): loop check, a trace, the conditions,
and a run started eagerly. The rule also resumes runs saved before a restart and applies its
`late:` choice to deadlines that passed while the hub was down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hub.timers import TimerRecord
from rules import actions as act
from rules.conditions import all_hold
from rules.context import Services
from rules.durations import format_duration
from rules.guard import Chain
from rules.loader import RuleDef
from rules.modes import Runner
from rules.run import ResumePoint, Run
from rules.traces import Trace
from rules.triggers import TriggerEnv

log = logging.getLogger(__name__)

LATE_TOLERANCE = 1.0  # seconds; a deadline met this late is on time


class Rule:
    """One loaded rule, running."""

    def __init__(self, definition: RuleDef, env: Services, on_suspend: Callable[[Rule, str], None]) -> None:
        self.definition = definition
        self.env = env
        self.enabled = definition.enabled
        self.reason: str | None = None if definition.enabled else "turned off in its file (enabled: false)"
        self.last_triggered: float | None = None
        self.runs = 0
        self.this = {"id": definition.id, "alias": definition.alias or definition.id}
        self.runner = Runner(definition.mode, definition.max, env.spawn, lambda: env.hub.counters.inc("rules.skipped"))
        self.keeps_deadlines = False
        self._on_suspend = on_suspend
        self._detach: list[Callable[[], None]] = []

    # --- what a run needs (RunOwner) -------------------------------------------------------------
    @property
    def id(self) -> str:
        """The rule id."""
        return self.definition.id

    @property
    def actions(self) -> Sequence[act.Action]:
        """The rule's actions."""
        return self.definition.actions

    @property
    def actions_fingerprint(self) -> str:
        """Changes with the actions."""
        return self.definition.actions_fingerprint

    def run_finished(self, run: Run) -> None:
        """A run ended."""
        self.runs += 1

    # --- lifecycle -------------------------------------------------------------------------------
    async def start(self, saved: Sequence[TimerRecord]) -> None:
        """Attach the triggers (resuming saved `for:` holds and schedules) and resume saved runs."""
        by_key = {record.key: record for record in saved}
        env = TriggerEnv(self.env, self.id, self.fire, by_key, self.late)
        try:
            for trigger in self.definition.triggers:
                if trigger.enabled:
                    self._detach.append(await trigger.attach(env))
        except BaseException:
            self.stop("its triggers could not be attached")
            raise
        for record in saved:
            if record.payload.get("kind") in ("delay", "wait"):
                self._resume(record)

    def stop(self, reason: str, *, keep_deadlines: bool = False) -> None:
        """Detach the triggers and cancel the runs (`keep_deadlines`: a new version resumes them)."""
        self.keeps_deadlines = keep_deadlines
        for detach in self._detach:
            detach()
        self._detach.clear()
        self.runner.close(reason)

    def switch(self, enabled: bool, reason: str | None) -> None:
        """Turn on or off (a rule turned off also stops its running runs)."""
        self.enabled = enabled
        self.reason = reason
        if not enabled:
            self.runner.cancel(reason or "turned off")

    # --- firing ----------------------------------------------------------------------------------
    def fire(self, data: dict[str, Any], chain: Chain) -> None:
        """A trigger fired: check for a loop, then the conditions, then start a run."""
        if not self.enabled:
            return
        if self.id in chain and self.env.guard.looped(self.id):
            self._suspend(data, chain)
            return
        self.start_run(data, chain, check_conditions=True)

    def start_run(self, data: Mapping[str, Any], chain: Chain, *, check_conditions: bool) -> str:
        """Trace the trigger, check the conditions, start a run; says what came of it."""
        env = self.env
        now = env.time()
        self.last_triggered = now
        trace = Trace(self.id, env.book.next_run_id(self.id), now, data)
        scope = env.helpers.scope(data, self.this)
        conditions = self.definition.conditions
        if check_conditions and conditions and not all_hold(conditions, env, scope, trace.conditions):
            trace.finish("conditions", now)
            env.book.add(trace)
            return "conditions not met"
        if self.runner.refuses():
            return f"skipped: it is already running (mode: {self.definition.mode})"
        env.book.add(trace)
        self.runner.start(Run(self, env, trace, scope=scope, chain=chain))
        return f"started run {trace.run_id}"

    def _suspend(self, data: Mapping[str, Any], chain: Chain) -> None:
        guard = self.env.guard
        others = sorted(chain - {self.id})
        through = f" through {', '.join(others)}" if others else ""
        reason = (
            f"suspended: it triggered itself{through} more than {guard.limit} times "
            f"in {format_duration(guard.window)}; turn it on again once the loop is fixed"
        )
        trace = Trace(self.id, self.env.book.next_run_id(self.id), self.env.time(), data)
        trace.finish("suspended", trace.started, reason)
        self.env.book.add(trace)
        self._on_suspend(self, reason)

    # --- deadlines missed while the hub was down -------------------------------------------------
    def late(self, deadline: float, data: dict[str, Any]) -> bool:
        """Whether a deadline that passed while the hub was down still fires (the rule's `late:`)."""
        lateness = self.env.time() - deadline
        if lateness < LATE_TOLERANCE:
            return True
        data["late"] = round(lateness, 1)
        policy = self.definition.late
        if policy == "run" or (isinstance(policy, float) and lateness <= policy):
            return True
        shown = policy if isinstance(policy, str) else f"at most {format_duration(policy)}"
        self._dropped(
            data, f"its time passed while the hub was down; it is {format_duration(lateness)} late (late: {shown})"
        )
        return False

    def _dropped(self, data: Mapping[str, Any], message: str) -> None:
        trace = Trace(self.id, self.env.book.next_run_id(self.id), self.env.time(), data)
        trace.finish("dropped", trace.started, message)
        self.env.book.add(trace)
        log.info("Rule '%s': %s", self.id, message)

    def _resume(self, record: TimerRecord) -> None:
        payload = record.payload
        self.env.deadlines.delete(record.key)  # the resumed run saves its next wait under its own key
        trigger = {**(payload.get("trigger") or {}), "resumed_run": payload.get("run_id")}
        if payload.get("actions") != self.actions_fingerprint:
            self._dropped(trigger, f"run {payload.get('run_id')} was waiting when the rule's actions changed; it ends")
            return
        if record.deadline < self.env.time() and not self.late(record.deadline, trigger):
            return
        now = self.env.time()
        trace = Trace(self.id, self.env.book.next_run_id(self.id), now, trigger)
        scope = self.env.helpers.scope(trigger, self.this)
        if payload.get("wait") is not None:
            scope["wait"] = payload["wait"]
        self.env.book.add(trace)
        resume = ResumePoint(list(payload.get("path") or [0]), record.deadline, payload)
        chain = frozenset(payload.get("chain") or ())
        self.runner.start(Run(self, self.env, trace, scope=scope, chain=chain, resume=resume))
