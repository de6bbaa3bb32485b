"""One run of a rule: its actions in order, each recorded in the trace; waits persisted on the way.

The run knows where it is (`position`: indexes through nested sequences, with `repeat`
iterations and `if`/`choose` branches), so a delay or wait can be saved with that position and a
run interrupted by a restart continues from exactly there. Errors end the run unless the action
says `continue_on_error: true`; `stop` ends it on purpose.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from hub.errors import HubError
from hub.template import TemplateFailure
from rules.context import Services
from rules.deadlines import key_of
from rules.guard import Chain
from rules.traces import ActionStep, Trace

if TYPE_CHECKING:
    from rules.actions import Action

log = logging.getLogger(__name__)

Path = list[str | int]


class StopRun(Exception):
    """`stop:` was reached (or a wait timed out with `continue_on_timeout: false`)."""

    def __init__(self, reason: str, *, error: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


class Cancelled(StopRun):
    """The run was cancelled while it was running on the caller's stack (it cannot be cancelled as a task)."""


class ActionFailed(Exception):
    """An action failed and did not say `continue_on_error: true`; the run ends as failed."""


@dataclass
class ResumePoint:
    """Where an interrupted run continues: the position of its wait and that wait's deadline."""

    path: Path
    deadline: float
    saved: Mapping[str, Any] = field(default_factory=dict)


class RunOwner(Protocol):
    """The rule a run belongs to."""

    @property
    def id(self) -> str:
        """The rule id."""
        ...

    @property
    def actions(self) -> Sequence[Action]:
        """The rule's actions."""
        ...

    @property
    def actions_fingerprint(self) -> str:
        """Changes whenever the rule's actions change (a saved position is only valid for the same actions)."""
        ...

    @property
    def keeps_deadlines(self) -> bool:
        """True while the rule is being replaced by a new version that resumes its saved waits."""
        ...

    def run_finished(self, run: Run) -> None:
        """Called once when the run has ended, however it ended."""
        ...


class Run:
    """One execution of a rule's actions."""

    def __init__(
        self,
        owner: RunOwner,
        env: Services,
        trace: Trace,
        *,
        scope: dict[str, Any],
        chain: Chain,
        resume: ResumePoint | None = None,
    ) -> None:
        self.owner = owner
        self.env = env
        self.trace = trace
        self.scope = scope
        self.chain = chain
        self.resume = resume
        self.effect_chain: Chain = chain | {owner.id}  # what this run's effects carry to the triggers they cause
        self.position: Path = []
        self.cancel_reason: str | None = None
        self.eager = True  # may still run on the stack of whoever triggered it (see rules.eager)

    @property
    def id(self) -> int:
        """The run id (counts up per rule)."""
        return self.trace.run_id

    async def execute(self) -> None:
        """Run the actions to the end and record how it ended (never raises, except when cancelled)."""
        outcome, message = "ran", None
        try:
            await self.sequence(self.owner.actions, self.scope, self.resume.path if self.resume else None)
        except Cancelled as cancelled:
            outcome, message = "cancelled", cancelled.reason
        except StopRun as stop:
            outcome, message = ("failed" if stop.error else "stopped"), stop.reason
        except ActionFailed as exc:
            outcome, message = "failed", str(exc)
        except asyncio.CancelledError:
            outcome = "interrupted" if self.env.closing else "cancelled"
            message = None if self.env.closing else self.cancel_reason
            raise
        except Exception as exc:
            # A bug in the engine must cost one run, never the hub; the traceback goes to the log.
            log.exception("Rule '%s' run %d failed unexpectedly", self.owner.id, self.id)
            outcome, message = "failed", f"internal error: {exc}"
        finally:
            self.trace.finish(outcome, self.env.time(), message)
            self.env.book.changed(self.trace)
            self.owner.run_finished(self)

    async def sequence(self, actions: Sequence[Action], scope: dict[str, Any], resume: Path | None) -> None:
        """Run actions in order (from the saved position when resuming)."""
        start = int(resume[0]) if resume else 0
        for index in range(start, len(actions)):
            self.position.append(index)
            try:
                await self.step(actions[index], scope, resume[1:] if resume and index == start else None)
            finally:
                self.position.pop()

    async def step(self, action: Action, scope: dict[str, Any], resume: Path | None) -> None:
        """Run one action and record it; an error ends the run unless the action continues on errors."""
        if not action.enabled:
            return
        if self.cancel_reason is not None:
            raise Cancelled(self.cancel_reason)
        if action.waits and self.eager:
            # Leave the caller's stack before anything that waits: from here on the run is a task of
            # its own, so code that looks at the current task (asyncio.timeout) sees the right one.
            self.eager = False
            await asyncio.sleep(0)
        record = ActionStep(action.path, action.alias or action.describe(), self.env.time())
        self.trace.actions.append(record)
        try:
            record.result = await action.run(self, scope, resume) or "done"
        except StopRun as stop:
            record.result = "stop"
            record.error = stop.reason if stop.error else None
            raise
        except (HubError, TemplateFailure) as exc:
            record.error = str(exc)
            if not action.continue_on_error:
                raise ActionFailed(f"{action.alias or action.describe()}: {exc}") from exc
            record.result = "error ignored (continue_on_error)"
        finally:
            record.ended = self.env.time()

    def resume_deadline(self) -> float | None:
        """The saved deadline, for the action the run resumes at (given out once)."""
        if self.resume is None:
            return None
        deadline, self.resume = self.resume.deadline, None
        return deadline

    def saved(self) -> Mapping[str, Any]:
        """Extra data saved with the wait the run resumes at."""
        return self.resume.saved if self.resume else {}

    def persist(self, kind: str, deadline: float, extra: Mapping[str, Any] | None = None) -> None:
        """Save the current position and deadline, so a restart continues this run from here."""
        payload = {
            "kind": kind,
            "run_id": self.id,
            "path": list(self.position),
            "trigger": dict(self.scope.get("trigger", {})),
            "chain": sorted(self.chain),
            "wait": self.scope.get("wait"),
            "actions": self.owner.actions_fingerprint,
            **(extra or {}),
        }
        self.env.deadlines.save(self.owner.id, self._key(), deadline, payload)

    def _key(self) -> str:
        return key_of(self.owner.id, f"run:{self.id}")

    def unpersist(self) -> None:
        """The wait is over: forget it (kept when the hub stops or the rule is replaced: it resumes then)."""
        if not self.env.closing and not self.owner.keeps_deadlines:
            self.env.deadlines.delete(self._key())
