"""Timers survive restarts: `for:` holds, delays, waits and schedules continue on the same data
directory after the engine is closed and a new one opened; `late:` decides about missed deadlines."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rules.database import read_traces
from tests.rulelab import BERLIN, RuleLab

HOLD = """
- id: water
  late: {late}
  triggers:
    - {{trigger: numeric_state, entity_id: sensor.moisture, below: 30, for: 10min}}
  actions:
    - {{action: valve.open, target: {{entity_id: valve.bed}}}}
"""


def local(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, BERLIN).strftime("%H:%M:%S")


async def test_a_restart_in_the_middle_of_for_fires_at_the_original_time(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, HOLD.format(late="run"), states={"sensor.moisture": 40, "valve.bed": "closed"}) as lab:
        await lab.change("sensor.moisture", 25)  # 12:00: dry; fires at 12:10 if it stays dry
        await lab.advance(240)
        await lab.restart(down=120)  # down from 12:04 to 12:06
        await lab.advance(239)
        assert lab.commands() == []
        await lab.advance(1)
        assert lab.commands() == ["valve.open valve.bed"]
        assert local(lab.last("water").started) == "12:10:00"


async def test_a_state_that_breaks_the_hold_after_a_restart_cancels_it(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, HOLD.format(late="run"), states={"sensor.moisture": 40, "valve.bed": "closed"}) as lab:
        await lab.change("sensor.moisture", 25)
        await lab.restart(down=60)
        await lab.change("sensor.moisture", 35)  # the sensor reports wet soil after the restart
        await lab.advance(900)
        assert lab.commands() == []


async def test_a_hold_whose_deadline_passed_while_down_follows_late(tmp_path: Path) -> None:
    for late, expected in (("run", ["valve.open valve.bed"]), ("skip", []), ('"00:30:00"', ["valve.open valve.bed"])):
        folder = tmp_path / late.strip('"').replace(":", "")
        async with RuleLab(
            folder, HOLD.format(late=late), states={"sensor.moisture": 40, "valve.bed": "closed"}
        ) as lab:
            await lab.change("sensor.moisture", 25)
            await lab.restart(down=1200)  # back at 12:20, ten minutes after the deadline
            assert lab.commands() == expected, late
            if not expected:
                assert lab.last("water").outcome == "dropped"
                assert "late (late: skip)" in (lab.last("water").message or "")
            else:
                assert lab.last("water").trigger["late"] == 600


async def test_late_limit_drops_a_deadline_missed_by_too_much(tmp_path: Path) -> None:
    rules = HOLD.format(late='"00:05:00"')
    async with RuleLab(tmp_path, rules, states={"sensor.moisture": 40, "valve.bed": "closed"}) as lab:
        await lab.change("sensor.moisture", 25)
        await lab.restart(down=1200)
        assert lab.commands() == []
        assert "at most 5 min" in (lab.last("water").message or "")


DELAYED = """
- id: water
  triggers: [{trigger: state, entity_id: button.go}]
  actions:
    - {action: valve.open, target: {entity_id: valve.bed}}
    - if: "{{ true }}"
      then:
        - repeat:
            count: 2
            sequence:
              - delay: 15min
              - {action: log, data: {message: "round {{ repeat.index }} of {{ trigger.to_state.state }}"}}
    - {action: valve.close, target: {entity_id: valve.bed}}
"""


async def test_a_restart_in_the_middle_of_a_delay_continues_where_it_stood(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, DELAYED, states={"valve.bed": "closed"}) as lab:
        await lab.change("button.go", "pressed")  # 12:00
        await lab.advance(20 * 60)  # 12:20: the second delay (until 12:30) runs
        await lab.restart(down=300)  # down 12:20 to 12:25
        assert lab.commands() == ["valve.open valve.bed"]  # not opened a second time
        await lab.advance(299)
        assert lab.commands() == ["valve.open valve.bed"]
        await lab.advance(1)
        assert lab.commands() == ["valve.open valve.bed", "valve.close valve.bed"]
        resumed = lab.last("water")
        assert resumed.outcome == "ran" and resumed.trigger["resumed_run"] == 1
        assert [a.result for a in resumed.actions if a.what == "log"] == ["round 2 of pressed"]
        assert local(resumed.ended or 0) == "12:30:00"
        interrupted = lab.traces("water")[1]
        assert interrupted.outcome == "interrupted"


async def test_a_delay_that_ended_while_down_resumes_late(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, DELAYED, states={"valve.bed": "closed"}) as lab:
        await lab.change("button.go", "pressed")
        await lab.restart(down=3 * 3600)
        await lab.advance(15 * 60)
        assert lab.commands() == ["valve.open valve.bed", "valve.close valve.bed"]


async def test_a_waiting_run_of_a_changed_rule_is_dropped_with_a_trace(tmp_path: Path) -> None:
    async with RuleLab(tmp_path, DELAYED, states={"valve.bed": "closed"}) as lab:
        await lab.close()
        await lab.change("button.go", "pressed")
        await lab.open()
        await lab.change("button.go", "again")
        await lab.advance(60)
        await lab.close()
        lab.write("rules.yaml", DELAYED.replace("valve.close", "valve.open"))
        await lab.open()
        await lab.advance(3600)
        assert lab.commands() == ["valve.open valve.bed"]
        assert lab.last("water").outcome == "dropped"
        assert "actions changed" in (lab.last("water").message or "")


async def test_a_time_missed_while_down_runs_late(tmp_path: Path) -> None:
    rules = """
- id: evening
  triggers: [{trigger: time, at: "19:00"}]
  actions: [{action: switch.turn_off, target: {entity_id: switch.compressor}}]
"""
    async with RuleLab(tmp_path, rules, states={"switch.compressor": "on"}) as lab:
        await lab.at(18, 58)
        await lab.restart(down=300)  # down over 19:00
        assert lab.commands() == ["switch.turn_off switch.compressor"]
        assert lab.last("evening").trigger["late"] == 180


async def test_traces_survive_a_restart(tmp_path: Path) -> None:
    rules = """
- id: note
  triggers: [{trigger: mqtt, topic: note}]
  actions: [{action: log, data: {message: "{{ trigger.payload }}"}}]
"""
    async with RuleLab(tmp_path, rules) as lab:
        for n in range(25):
            await lab.mqtt("note", str(n))
        await lab.restart()
        kept = lab.traces("note")
        assert len(kept) == 20  # the last 20 per rule
        assert [t.actions[0].result for t in kept[:2]] == ["24", "23"]
        await lab.mqtt("note", "after")
        assert lab.last("note").run_id == 26
    on_disk = read_traces(tmp_path / "data", "note", 3)
    assert [t.actions[0].result for t in on_disk] == ["after", "24", "23"]


async def test_a_wait_continues_after_a_restart_with_the_time_it_had_left(tmp_path: Path) -> None:
    rules = """
- id: door
  triggers: [{trigger: state, entity_id: binary_sensor.door, to: "on"}]
  actions:
    - wait_template: "{{ is_state('binary_sensor.door', 'off') }}"
      timeout: 10min
    - {action: notify, data: {message: "closed={{ wait.completed }}"}}
"""
    async with RuleLab(tmp_path, rules, states={"binary_sensor.door": "off"}) as lab:
        await lab.change("binary_sensor.door", "on")  # 12:00, the door opens
        await lab.restart(down=120)
        await lab.advance(479)
        assert lab.effects("notify") == []
        await lab.advance(1)  # 12:10: ten minutes after it started waiting
        assert [e.data["message"] for e in lab.effects("notify")] == ["closed=False"]
        await lab.change("binary_sensor.door", "off")
        await lab.change("binary_sensor.door", "on")
        await lab.restart(down=60)
        await lab.change("binary_sensor.door", "off")
        assert [e.data["message"] for e in lab.effects("notify")][-1] == "closed=True"
