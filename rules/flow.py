"""Flow-control actions: delay, wait for a template or a trigger, choose, if / then / else, repeat, stop.

Delays and waits save the run's position and deadline before they wait, so a hub restart (or a
reload of an unchanged rule) continues the run where it stood; a branch or repeat iteration is
part of that position.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from hub.errors import RuleError
from hub.template import TemplateFailure
from rules import schema
from rules.actions import Action, Scope
from rules.conditions import Condition, all_hold
from rules.context import Services
from rules.durations import format_duration, parse_duration
from rules.run import StopRun
from rules.templates import RuleTemplate, Value, truthy

if TYPE_CHECKING:
    from rules.run import Path, Run
    from rules.triggers import Trigger

MAX_LOOPS = 10_000  # a while / until loop that never ends is stopped with an error


async def wait_until(env: Services, future: asyncio.Future[Any], deadline: float) -> bool:
    """Wait for `future` or until the clock reaches `deadline`; true if the future came first."""
    if not future.done() and not math.isinf(deadline):
        sleeper = asyncio.ensure_future(env.hub.clock.sleep_until(deadline))
        try:
            await asyncio.wait({future, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
    elif not future.done():
        await asyncio.wait({future})
    return future.done() and not future.cancelled()


def _deadline(run: Run, resume: Path | None, seconds: float | None) -> float:
    saved = run.resume_deadline() if resume is not None else None
    if saved is not None:
        return saved
    return math.inf if seconds is None else run.env.time() + seconds


class Delay(Action):
    """`delay:` — wait a fixed or templated time (persisted: survives a restart)."""

    waits = True

    def __init__(self, model: schema.DelayModel, path: str) -> None:
        super().__init__(model, path)
        self.delay = model.delay

    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Sleep on the injected clock until the deadline."""
        deadline = _deadline(run, resume, self._seconds(scope))
        started = run.env.time()
        if deadline > started:
            run.persist("delay", deadline)
        try:
            await run.env.hub.clock.sleep_until(deadline)
        finally:
            run.unpersist()
        return f"waited {format_duration(run.env.time() - started)}"

    def _seconds(self, scope: Scope) -> float:
        if not isinstance(self.delay, RuleTemplate):
            return self.delay
        try:
            return max(0.0, parse_duration(self.delay.render_value(scope)))
        except ValueError as exc:
            raise RuleError(f"delay: {exc}") from None

    def describe(self) -> str:
        """e.g. `delay 15 min`."""
        if isinstance(self.delay, RuleTemplate):
            return f"delay {self.delay.source}"
        return f"delay {format_duration(self.delay)}"


class _Wait(Action):
    """Shared by the two waits: the deadline, the `wait` variable, the timeout outcome."""

    waits = True

    def __init__(self, model: schema.WaitTemplateModel | schema.WaitTriggerModel, path: str) -> None:
        super().__init__(model, path)
        self.timeout = model.timeout
        self.continue_on_timeout = model.continue_on_timeout

    async def wait(self, run: Run, scope: Scope, resume: Path | None, future: asyncio.Future[Any]) -> bool:
        deadline = _deadline(run, resume, self.timeout)
        run.persist("wait", deadline)
        try:
            completed = await wait_until(run.env, future, deadline)
        finally:
            future.cancel()
            run.unpersist()
        remaining = None if math.isinf(deadline) else max(0.0, deadline - run.env.time())
        scope["wait"] = {
            "completed": completed,
            "remaining": remaining,
            "trigger": future.result() if completed else None,
        }
        if not completed and not self.continue_on_timeout:
            raise StopRun(f"timed out after {format_duration(self.timeout or 0)} while waiting")
        return completed


class WaitTemplate(_Wait):
    """`wait_template:` — wait until a template is true, re-checked at every state change."""

    def __init__(self, model: schema.WaitTemplateModel, path: str) -> None:
        super().__init__(model, path)
        self.template = model.wait_template

    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Check now; else wait for a state change that makes it true, or the timeout."""
        started = run.env.time()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._true(scope):
            future.set_result(None)

        def changed(_event: object) -> None:
            if not future.done() and self._true(scope):
                future.set_result(None)

        stop = run.env.watch.everything(changed)
        try:
            completed = await self.wait(run, scope, resume, future)
        finally:
            stop()
        took = format_duration(run.env.time() - started)
        return f"became true after {took}" if completed else f"timed out after {took}"

    def _true(self, scope: Scope) -> bool:
        try:
            return truthy(self.template, scope)[0]
        except TemplateFailure:
            return False

    def describe(self) -> str:
        """e.g. `wait for {{ is_state('valve.x', 'closed') }}`."""
        return f"wait for {self.template.source}"


class WaitTrigger(_Wait):
    """`wait_for_trigger:` — wait until one of the triggers fires (`wait.trigger` has its data)."""

    def __init__(self, model: schema.WaitTriggerModel, path: str, triggers: Sequence[Trigger]) -> None:
        super().__init__(model, path)
        self.triggers = tuple(triggers)

    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Attach the triggers for the time of the wait."""
        from rules.triggers import TriggerEnv

        started = run.env.time()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def fire(data: dict[str, Any], _chain: frozenset[str]) -> None:
            if not future.done():
                future.set_result(data)

        detach: list[Callable[[], None]] = []
        try:
            for trigger in self.triggers:
                detach.append(await trigger.attach(TriggerEnv(run.env, None, fire)))
            completed = await self.wait(run, scope, resume, future)
        finally:
            for stop in detach:
                stop()
        took = format_duration(run.env.time() - started)
        return f"trigger {scope['wait']['trigger']['id']} after {took}" if completed else f"timed out after {took}"

    def describe(self) -> str:
        """`wait for trigger`."""
        return "wait for trigger"


class Choose(Action):
    """`choose:` — the first option whose conditions hold runs; otherwise `default`."""

    def __init__(
        self,
        model: schema.ChooseModel,
        path: str,
        options: Sequence[tuple[Sequence[Condition], Sequence[Action]]],
        default: Sequence[Action],
    ) -> None:
        super().__init__(model, path)
        self.options = tuple((tuple(c), tuple(a)) for c, a in options)
        self.default = tuple(default)

    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Pick the branch (or take the saved one when resuming) and run it."""
        if resume:
            branch: int | str = resume[0]
        else:
            steps = run.trace.conditions
            branch = next((i for i, (c, _) in enumerate(self.options) if all_hold(c, run.env, scope, steps)), "default")
        actions = self.default if branch == "default" else self.options[int(branch)][1]
        run.position.append(branch)
        try:
            await run.sequence(actions, scope, resume[1:] if resume else None)
        finally:
            run.position.pop()
        return "default" if branch == "default" else f"option {branch}"

    def describe(self) -> str:
        """`choose`."""
        return "choose"


class If(Action):
    """`if:` / `then:` / `else:`."""

    def __init__(
        self,
        model: schema.IfModel,
        path: str,
        conditions: Sequence[Condition],
        then: Sequence[Action],
        other: Sequence[Action],
    ) -> None:
        super().__init__(model, path)
        self.conditions = tuple(conditions)
        self.then = tuple(then)
        self.other = tuple(other)

    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Check the conditions (unless resuming in a branch) and run the branch."""
        if resume:
            branch = str(resume[0])
        else:
            branch = "then" if all_hold(self.conditions, run.env, scope, run.trace.conditions) else "else"
        run.position.append(branch)
        try:
            await run.sequence(self.then if branch == "then" else self.other, scope, resume[1:] if resume else None)
        finally:
            run.position.pop()
        return branch

    def describe(self) -> str:
        """`if`."""
        return "if"


class Repeat(Action):
    """`repeat:` — count, while, until or for each item; `repeat.index` / `.first` / `.last` / `.item`."""

    def __init__(
        self,
        model: schema.RepeatModel,
        path: str,
        sequence: Sequence[Action],
        loops: tuple[Sequence[Condition] | None, Sequence[Condition] | None, Value | None],
    ) -> None:
        super().__init__(model, path)
        spec = model.repeat
        while_, until, items = loops
        self.count = spec.count
        self.items: Value | RuleTemplate | None = spec.for_each if isinstance(spec.for_each, RuleTemplate) else items
        self.sequence = tuple(sequence)
        self.while_ = tuple(while_) if while_ is not None else None
        self.until = tuple(until) if until is not None else None

    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Loop; each iteration is part of the run's position (a resumed run starts in its saved one)."""
        items = self._items(scope)
        index, inner = (int(resume[0]), resume[1:]) if resume else (0, None)
        steps = run.trace.conditions
        while items is None or index < len(items):
            child = {**scope, "repeat": self._variable(index, items)}
            if self.while_ is not None and inner is None and not all_hold(self.while_, run.env, child, steps):
                break
            run.position.append(index)
            try:
                await run.sequence(self.sequence, child, inner)
            finally:
                run.position.pop()
            index, inner = index + 1, None
            if self.until is not None and all_hold(self.until, run.env, child, steps):
                break
            if index >= MAX_LOOPS:
                raise RuleError(f"stopped after {MAX_LOOPS} repetitions: the loop does not seem to end")
            if index % 100 == 0:
                await asyncio.sleep(0)  # a long loop must not starve the rest of the hub
        return f"{index} time{'s' if index != 1 else ''}"

    def _items(self, scope: Scope) -> list[Any] | None:
        if self.count is not None:
            count = self.count.render_value(scope) if isinstance(self.count, RuleTemplate) else self.count
            if isinstance(count, bool) or not isinstance(count, int | float):
                raise RuleError(f"repeat count must be a number, not {count!r}")
            return list(range(1, int(count) + 1))
        if isinstance(self.items, RuleTemplate):
            value = self.items.render_value(scope)
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            return list(value)
        return list(self.items.render(scope)) if self.items is not None else None

    def _variable(self, index: int, items: list[Any] | None) -> dict[str, Any]:
        variable: dict[str, Any] = {"index": index + 1, "first": index == 0}
        if items is not None:
            variable["last"] = index == len(items) - 1
            if self.count is None:
                variable["item"] = items[index]
        return variable

    def describe(self) -> str:
        """`repeat`."""
        return "repeat"


class Stop(Action):
    """`stop:` — end the run here, as stopped or (with `error: true`) as failed."""

    def __init__(self, model: schema.StopModel, path: str) -> None:
        super().__init__(model, path)
        self.reason = model.stop
        self.error = model.error

    async def run(self, run: Run, scope: Scope, resume: Path | None) -> str | None:
        """Stop the run."""
        raise StopRun(self.reason, error=self.error)

    def describe(self) -> str:
        """e.g. `stop: nothing to do`."""
        return f"stop: {self.reason}"
