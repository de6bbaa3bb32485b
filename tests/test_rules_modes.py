"""Run modes: single (skips counted), restart, queued, parallel — each with a run that takes 10 minutes."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from tests.rulelab import RuleLab


def rule(mode: str, maximum: int = 10) -> str:
    return f"""
- id: r
  mode: {mode}
  max: {maximum}
  triggers: [{{trigger: mqtt, topic: go}}]
  actions:
    - {{action: mqtt.publish, data: {{topic: started, payload: "{{{{ trigger.payload }}}}"}}}}
    - delay: 10min
    - {{action: mqtt.publish, data: {{topic: done, payload: "{{{{ trigger.payload }}}}"}}}}
"""


async def test_single_skips_while_running_and_counts_it(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, rule("single")) as lab:
        for n in range(4):
            await lab.mqtt("go", str(n))
            await lab.advance(60)
        await lab.advance(600)
        assert lab.published() == [("started", "0"), ("done", "0")]
        assert lab.engine is not None
        status = {s.id: s for s in lab.engine.status()}["r"]
        assert (status.skipped, status.runs) == (3, 1)
        assert lab.hub.counters.get("rules.skipped") == 3
        assert len(lab.traces("r")) == 1  # a skip is counted, not traced


async def test_restart_cancels_the_running_run(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, rule("restart")) as lab:
        await lab.mqtt("go", "first")
        await lab.advance(300)
        await lab.mqtt("go", "second")
        await lab.advance(600)
        assert lab.published() == [("started", "first"), ("started", "second"), ("done", "second")]
        second, first = lab.traces("r")
        assert (first.outcome, first.message) == ("cancelled", "restarted by a new trigger")
        assert second.outcome == "ran"


async def test_queued_runs_one_after_the_other_up_to_max(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, rule("queued", maximum=2)) as lab:
        for n in range(4):
            await lab.mqtt("go", str(n))
        await lab.advance(3600)
        topics = [f"{t} {p}" for t, p in lab.published()]
        assert topics == ["started 0", "done 0", "started 1", "done 1", "started 2", "done 2"]  # 3 was one too many
        done_at = sorted(t.ended or 0 for t in lab.traces("r"))
        assert [b - a for a, b in pairwise(done_at)] == [600, 600]


async def test_parallel_runs_side_by_side_up_to_max(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, rule("parallel", maximum=2)) as lab:
        for n in range(3):
            await lab.mqtt("go", str(n))
        await lab.advance(600)
        assert sorted(lab.published()) == [("done", "0"), ("done", "1"), ("started", "0"), ("started", "1")]
        assert lab.engine is not None and lab.engine.status()[0].skipped == 1
