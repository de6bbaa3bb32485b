"""Runs start eagerly: a run that never waits finishes inside the callback that triggered it; one
that waits goes on in a task of its own — before it calls anything that may wait."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hub.state import State
from rules.eager import start_eagerly
from rules.sandbox import SandboxHub
from tests.rulelab import RuleLab


async def test_a_coroutine_that_never_waits_needs_no_task() -> None:
    done: list[str] = []

    async def quick() -> None:
        done.append("done")

    def no_task(coro: Any) -> asyncio.Task[None]:
        raise AssertionError("a run that never waits needs no task")

    assert start_eagerly(quick(), no_task) is None
    assert done == ["done"]


async def test_a_coroutine_that_waits_continues_in_a_task_or_can_be_cancelled() -> None:
    steps: list[str] = []
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def slow() -> None:
        steps.append("before")
        steps.append(await gate)

    task = start_eagerly(slow(), asyncio.get_running_loop().create_task)
    assert task is not None and steps == ["before"]
    gate.set_result("after")
    await task
    assert steps == ["before", "after"]

    waiting: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def stuck() -> None:
        try:
            await waiting
        finally:
            steps.append("cleaned up")

    task = start_eagerly(stuck(), asyncio.get_running_loop().create_task)
    assert task is not None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and waiting.cancelled() and steps[-1] == "cleaned up"


class WatchfulHub(SandboxHub):
    """Notes in which task each command runs, and uses asyncio.timeout as a driver might."""

    tasks: list[asyncio.Task[Any] | None]

    async def command(self, entity_id: str, action: str, /, *, source: str = "", **params: Any) -> State:
        self.tasks.append(asyncio.current_task())
        async with asyncio.timeout(5):
            await asyncio.sleep(0)
        return await super().command(entity_id, action, source=source, **params)


async def test_a_command_runs_in_the_runs_own_task_not_in_the_callers(tmp_path: Path) -> None:
    rules = """
- id: r
  triggers: [{trigger: mqtt, topic: go}]
  actions:
    - {action: mqtt.publish, data: {topic: first, payload: "eager"}}
    - {action: switch.turn_on, target: {entity_id: switch.pump}}
"""
    lab = RuleLab(tmp_path, rules, states={"switch.pump": "off"})
    lab.hub = WatchfulHub(lab.config, lab.clock)
    lab.hub.tasks = []
    async with lab:
        await lab.mqtt("go", "")
        assert lab.commands() == ["switch.turn_on switch.pump"]
        assert lab.published() == [("first", "eager")]
        (task,) = lab.hub.tasks
        assert task is not None and task is not asyncio.current_task()
        assert lab.last("r").outcome == "ran"
