"""Hot reload: changed, added and removed files are picked up; a broken file keeps its old rules
running and its error visible with line and column; other rules are not touched."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.conftest import eventually
from tests.rulelab import RuleLab

PUMP = """
- id: pump
  triggers: [{trigger: mqtt, topic: pump}]
  actions: [{action: mqtt.publish, data: {topic: out, payload: "pump {{ trigger.payload }}"}}]
"""
SLOW = """
- id: slow
  triggers: [{trigger: mqtt, topic: slow}]
  actions:
    - delay: 10min
    - {action: mqtt.publish, data: {topic: out, payload: slow done}}
"""


async def test_the_folder_is_polled_with_the_clock(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, {"a.yaml": PUMP}, reload_interval=3.0) as lab:
        lab.write("b.yaml", PUMP.replace("id: pump", "id: second").replace("topic: pump", "topic: second"))
        await lab.advance(3)
        # The folder is read in a worker thread: wait for that real I/O, not for fake time.
        await eventually(lambda: lab.engine is not None and "second" in lab.engine.rules)
        await lab.mqtt("second", "x")
        assert lab.published() == [("out", "pump x")]


async def test_a_broken_file_keeps_the_old_rules_and_shows_where_it_is_wrong(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with RuleLab(tmp_path, {"a.yaml": PUMP}) as lab:
        path = lab.write("a.yaml", PUMP.replace('payload: "pump', 'paylod: "pump'))
        with caplog.at_level(logging.ERROR):
            await lab.reload()
        assert lab.engine is not None
        error = lab.engine.errors[str(path)]
        assert [str(i) for i in error.issues] == [f"{path}:4:55: unknown key 'paylod' — did you mean 'payload'?"]
        assert "its 1 rules as loaded before keep running" in caplog.text
        await lab.mqtt("pump", "1")
        assert lab.published() == [("out", "pump 1")]  # the old version still runs
        lab.write("a.yaml", PUMP.replace("pump {{", "fixed {{"))
        await lab.reload()
        assert lab.engine.errors == {}
        await lab.mqtt("pump", "2")
        assert lab.published()[-1] == ("out", "fixed 2")


async def test_reloading_one_file_does_not_touch_the_others(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, {"a.yaml": PUMP, "b.yaml": SLOW}) as lab:
        await lab.mqtt("slow", "")
        await lab.advance(300)
        lab.write("a.yaml", PUMP.replace("pump {{", "changed {{"))
        await lab.reload()
        lab.write("a.yaml", "- id: [broken")
        await lab.reload()
        await lab.advance(300)
        assert lab.published() == [("out", "slow done")]
        assert lab.last("slow").run_id == 1 and lab.last("slow").outcome == "ran"


async def test_an_unchanged_rule_in_a_changed_file_keeps_running(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, {"a.yaml": SLOW + PUMP}) as lab:
        await lab.mqtt("slow", "")
        await lab.advance(60)
        lab.write("a.yaml", SLOW + PUMP.replace("pump {{", "new {{"))
        await lab.reload()
        await lab.mqtt("pump", "x")
        await lab.advance(600)
        assert lab.published() == [("out", "new x"), ("out", "slow done")]


async def test_a_changed_rule_resumes_its_waiting_run_when_its_actions_are_the_same(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, {"a.yaml": SLOW}) as lab:
        await lab.mqtt("slow", "")
        await lab.advance(60)
        lab.write("a.yaml", SLOW.replace("topic: slow}", "topic: slow, id: renamed}"))  # only the trigger changed
        await lab.reload()
        await lab.advance(540)
        assert lab.published() == [("out", "slow done")]


async def test_a_removed_file_stops_its_rules(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, {"a.yaml": PUMP, "b.yaml": SLOW}) as lab:
        await lab.mqtt("slow", "")
        (lab.folder / "b.yaml").unlink()
        await lab.reload()
        await lab.advance(900)
        await lab.mqtt("slow", "")
        assert lab.published() == []
        assert lab.engine is not None and sorted(lab.engine.rules) == ["pump"]


async def test_a_rule_id_used_in_two_files_is_refused(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, {"a.yaml": PUMP}) as lab:
        path = lab.write("b.yaml", PUMP.replace("topic: pump", "topic: other"))
        await lab.reload()
        assert lab.engine is not None
        (issue,) = lab.engine.errors[str(path)].issues
        assert issue.message.startswith("the rule id 'pump' is already used in ") and "a.yaml:2" in issue.message
