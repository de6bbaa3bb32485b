"""The rule engine: loads the rule files, runs the rules, reloads what changed, keeps the traces.

    async with RuleEngine(hub) as engine:
        engine.status()          # every rule, on / off / suspended, last run
        engine.errors            # files rejected by the last (re)load, with file:line:col

A rule file that fails validation is rejected whole and its error stays in `errors` (and the log)
until the file is fixed; the rules it held before keep running. Rules in other files — and rules
of the same file whose text did not change — are not touched by a reload: their timers and
running actions continue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from hub.errors import ConfigError, Issue, RuleError
from hub.events import Event, HubStarted, Notification
from rules.context import Services
from rules.database import FILENAME, RulesDatabase, RuleState
from rules.deadlines import Deadlines
from rules.guard import Chain, LoopGuard
from rules.hubapi import RulesHub
from rules.loader import RuleFile, clashes, load_rule_file
from rules.location import Location
from rules.outbox import Outbox
from rules.reload import Watcher, snapshot
from rules.rule import Rule
from rules.templates import Helpers
from rules.traces import Trace, TraceBook
from rules.watch import StateWatch

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 10.0  # seconds between trace writes: a busy rule rewrites its kept traces at most this often


@dataclass(frozen=True)
class RuleStatus:
    """A rule as the panel and `rules list` show it."""

    id: str
    name: str
    file: str
    line: int
    enabled: bool
    reason: str | None
    mode: str
    running: int
    runs: int
    skipped: int
    last_triggered: float | None
    triggers: tuple[str, ...]


class RuleEngine:
    """Runs the rules of a directory against a hub."""

    def __init__(
        self, hub: RulesHub, *, directory: Path | None = None, files: list[Path] | None = None, watch: bool = True
    ) -> None:
        self.hub = hub
        self._only = files  # load just these files (rule scenarios)
        self._watch = watch and files is None
        config = hub.config
        self.settings = config.settings.rules
        self.directory = directory or config.rules_dir
        try:
            self.location = Location.from_settings(config.settings.hub)
        except ValueError as exc:
            raise ConfigError.single(str(config.path or "configuration"), 1, 1, f"hub: time_zone: {exc}") from None
        self.book = TraceBook(self.settings.traces)
        self.files: dict[str, RuleFile] = {}
        self.errors: dict[str, ConfigError] = {}
        self.rules: dict[str, Rule] = {}
        self._hub_start: list[Callable[[], None]] = []
        self._group: asyncio.TaskGroup | None = None
        self._root: asyncio.Task[None] | None = None
        self._db: RulesDatabase | None = None
        self._services: Services | None = None
        self._stop_listening: Callable[[], None] | None = None
        self._watcher: Watcher | None = None

    # --- lifecycle -------------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        if self._root is not None:
            raise RuntimeError("a RuleEngine is started once; create a new one")
        hub = self.hub
        if hub.timers is None:
            raise RuleError("the rule engine needs the hub's timer store")
        deadlines = Deadlines(hub.timers)
        await deadlines.load()
        self._db = await RulesDatabase(hub.config.data_dir / FILENAME, self.book).__aenter__()
        self._services = Services(
            hub=hub,
            location=self.location,
            helpers=Helpers(hub.store, hub.clock.time, self.location),
            watch=StateWatch(hub.bus),
            guard=LoopGuard(hub.clock.time, self.settings.loop_limit, self.settings.loop_window),
            deadlines=deadlines,
            outbox=Outbox(hub.mqtt, hub.counters),
            book=self.book,
            spawn=self._spawn,
            control=self,
            notify_topic=f"{hub.config.settings.mqtt.base_topic}/notify",
        )
        self._stop_listening = hub.bus.listen(HubStarted, callback=self._hub_started)
        ready = asyncio.Event()
        self._root = asyncio.create_task(self._main(ready), name="rules")
        waiting = asyncio.ensure_future(ready.wait())
        await asyncio.wait({self._root, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():
            waiting.cancel()
            await self._close()
            failure = self._root.exception()
            if isinstance(failure, BaseExceptionGroup) and len(failure.exceptions) == 1:
                raise failure.exceptions[0]  # why it failed, without the task group around it
            self._root.result()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _main(self, ready: asyncio.Event) -> None:
        env = self._env
        async with asyncio.TaskGroup() as group:
            self._group = group
            group.create_task(env.deadlines.run(), name="rules:deadlines")
            group.create_task(env.outbox.run(), name="rules:outbox")
            group.create_task(self._flush_traces(), name="rules:traces")
            self._watcher = Watcher(self.directory, self.hub.clock, self.settings.reload_interval, self._changed)
            stamps = await asyncio.to_thread(snapshot, self.directory) if self._only is None else {}
            await self._changed(self._only if self._only is not None else sorted(stamps), [])
            self._watcher.remember(stamps)
            log.info("Rules: %d loaded from %s", len(self.rules), self.directory)
            ready.set()
            if self._watch:
                group.create_task(self._watcher.run(), name="rules:reload")

    async def _close(self) -> None:
        env = self._services
        if env is None or env.closing:
            return
        env.closing = True  # runs cancelled from now on keep their saved waits: they resume at the next start
        for rule in self.rules.values():
            rule.stop("the hub is stopping", keep_deadlines=True)
        if self._root is not None:
            self._root.cancel()
            await asyncio.gather(self._root, return_exceptions=True)
        if self._stop_listening is not None:
            self._stop_listening()
        env.watch.close()
        try:
            await env.deadlines.flush()
        finally:
            if self._db is not None:
                await self._db.__aexit__(None, None, None)

    @property
    def _env(self) -> Services:
        if self._services is None:
            raise RuntimeError("the rule engine is not running")
        return self._services

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        if self._group is None or self._env.closing:
            coro.close()
            raise RuleError("the rule engine is stopping")
        return self._group.create_task(coro)

    async def _flush_traces(self) -> None:
        # Written in batches: at most one transaction per FLUSH_INTERVAL, none while nothing happens.
        assert self._db is not None
        while True:
            await self.book.pending.wait()
            await self.hub.clock.sleep(FLUSH_INTERVAL)
            self.book.pending.clear()
            await self._db.flush()

    # --- loading ---------------------------------------------------------------------------------
    async def reload(self) -> None:
        """Check the rules directory for changed files now (the watcher does it every few seconds)."""
        if self._watcher is not None:
            await self._watcher.check()

    async def _changed(self, changed: list[Path], removed: list[Path]) -> None:
        for path in removed:
            self._remove_file(str(path))
        for path in changed:
            await self._load_file(path)

    async def _load_file(self, path: Path) -> None:
        key = str(path)
        try:
            loaded = await asyncio.to_thread(load_rule_file, path, self.location)
            clash = clashes(loaded, self.files.values())
            if clash:
                raise ConfigError(clash)
        except ConfigError as exc:
            self._rejected(key, exc)
            return
        except OSError as exc:
            self._rejected(key, ConfigError.single(key, 1, 1, f"the file cannot be read: {exc.strerror or exc}"))
            return
        problems = await self._apply(loaded)
        if problems:
            self.errors[key] = ConfigError(problems)
            self.hub.counters.inc("rules.file_errors")
            log.error("Rules: in %s, some rules cannot start:\n  %s", key, "\n  ".join(map(str, problems)))
        elif self.errors.pop(key, None) is not None:
            log.info("Rules: %s is fixed and loaded", key)

    def _rejected(self, key: str, exc: ConfigError) -> None:
        self.errors[key] = exc
        self.hub.counters.inc("rules.file_errors")
        kept = len(self.files[key].rules) if key in self.files else 0
        log.error(
            "Rules: %s was not loaded; %s:\n  %s",
            key,
            f"its {kept} rules as loaded before keep running" if kept else "none of its rules run",
            "\n  ".join(str(issue) for issue in exc.issues),
        )

    async def _apply(self, loaded: RuleFile) -> list[Issue]:
        problems: list[Issue] = []
        old = self.files.get(loaded.path)
        new_ids = {rule.id for rule in loaded.rules}
        for rule_def in old.rules if old else ():
            if rule_def.id not in new_ids:
                self._retire(rule_def.id, "its rule was removed from the file")
        for rule_def in loaded.rules:
            current = self.rules.get(rule_def.id)
            if current is not None and current.definition.fingerprint == rule_def.fingerprint:
                continue  # unchanged: its triggers, timers and runs go on untouched
            edited = current is not None
            if current is not None:
                current.stop("replaced by a new version of the rule", keep_deadlines=True)
            rule = Rule(rule_def, self._env, self._suspended)
            self._restore_state(rule, edited=edited)
            self.rules[rule.id] = rule
            try:
                await rule.start(self._env.deadlines.of_rule(rule.id))
            except Exception as exc:
                # One rule that cannot start (no broker for its mqtt trigger, no sunset this year) must
                # not keep the others from running; it is reported like a file error.
                log.debug("Rule '%s' did not start", rule.id, exc_info=True)
                del self.rules[rule.id]
                problems.append(Issue(rule_def.file, rule_def.line, 1, f"rule '{rule.id}' cannot start: {exc}"))
        self.files[loaded.path] = loaded
        return problems

    def _restore_state(self, rule: Rule, *, edited: bool) -> None:
        assert self._db is not None
        saved = self._db.states.get(rule.id)
        if saved is None:
            return
        if edited:
            self._db.set_state(rule.id, None)  # a changed rule starts as its file says (a fixed loop runs again)
            return
        rule.switch(saved.enabled, saved.reason)

    def _remove_file(self, key: str) -> None:
        self.errors.pop(key, None)
        old = self.files.pop(key, None)
        for rule_def in old.rules if old else ():
            self._retire(rule_def.id, "its file was removed")
        log.info("Rules: %s was removed", key)

    def _retire(self, rule_id: str, reason: str) -> None:
        rule = self.rules.pop(rule_id, None)
        if rule is not None:
            rule.stop(reason)
        self._env.deadlines.delete_rule(rule_id)
        if self._db is not None and rule_id in self._db.states:
            self._db.set_state(rule_id, None)

    # --- what actions ask of the engine (RuleControl) --------------------------------------------
    def run_rule(self, rule_id: str, trigger: Mapping[str, Any], chain: Chain, skip_conditions: bool) -> str:
        """Start a rule from an action."""
        rule = self._rule(rule_id)
        if not rule.enabled:
            return f"not run: it is off ({rule.reason})"
        if rule_id in chain and self._env.guard.looped(rule_id):
            self._suspended(rule, f"suspended: it started itself in a loop (through {', '.join(sorted(chain))})")
            return "not run: suspended (loop)"
        return rule.start_run(trigger, chain, check_conditions=not skip_conditions)

    def set_enabled(self, rule_id: str, enabled: bool, reason: str) -> None:
        """Turn a rule on or off; the choice survives restarts until the rule's file changes."""
        rule = self._rule(rule_id)
        rule.switch(enabled, None if enabled else reason)
        if enabled:
            self._env.guard.reset(rule_id)
        assert self._db is not None
        differs = enabled != rule.definition.enabled
        self._db.set_state(rule_id, RuleState(enabled, reason, self.hub.clock.time()) if differs else None)

    def on_hub_start(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` when the hub reports it has started."""
        self._hub_start.append(callback)
        return lambda: self._hub_start.remove(callback) if callback in self._hub_start else None

    def _rule(self, rule_id: str) -> Rule:
        rule = self.rules.get(rule_id)
        if rule is None:
            raise RuleError(f"there is no rule '{rule_id}'")
        return rule

    def _hub_started(self, _event: Event) -> None:
        for callback in list(self._hub_start):
            callback()

    def _suspended(self, rule: Rule, reason: str) -> None:
        self.set_enabled(rule.id, False, reason)
        self.hub.counters.inc("rules.suspended")
        log.error("Rule '%s' is %s", rule.id, reason)
        self.hub.bus.publish(Notification(self.hub.clock.time(), f"Rule '{rule.id}' suspended", reason, source="rules"))

    # --- for the panel and the CLI ---------------------------------------------------------------
    def status(self) -> list[RuleStatus]:
        """Every loaded rule, sorted by id."""
        return [
            RuleStatus(
                id=rule.id,
                name=rule.definition.name,
                file=rule.definition.file,
                line=rule.definition.line,
                enabled=rule.enabled,
                reason=rule.reason,
                mode=rule.definition.mode,
                running=rule.runner.running,
                runs=rule.runs,
                skipped=rule.runner.skipped,
                last_triggered=rule.last_triggered,
                triggers=tuple(t.describe() for t in rule.definition.triggers),
            )
            for rule in sorted(self.rules.values(), key=lambda r: r.id)
        ]

    def traces(self, rule_id: str) -> list[Trace]:
        """The kept traces of a rule, newest first."""
        return self.book.latest(rule_id)

    async def flush(self) -> None:
        """Write pending traces and deadlines now (tests and the CLI use it)."""
        await self._env.deadlines.flush()
        if self._db is not None:
            await self._db.flush()
