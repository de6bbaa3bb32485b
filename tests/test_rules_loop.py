"""Loop protection: a rule that keeps triggering itself is suspended; the hub stays responsive."""

from __future__ import annotations

from pathlib import Path

from rules.sandbox import Message
from tests.rulelab import RuleLab

OTHER = """
- id: other
  triggers: [{trigger: mqtt, topic: ping}]
  actions: [{action: mqtt.publish, data: {topic: pong, payload: "ok"}}]
"""


async def test_a_rule_toggling_its_own_trigger_is_suspended(tmp_path: Path) -> None:
    rules = (
        """
- id: flipper
  mode: queued
  triggers: [{trigger: state, entity_id: switch.lamp}]
  actions: [{action: switch.toggle, target: {entity_id: switch.lamp}}]
"""
        + OTHER
    )
    async with RuleLab(tmp_path, rules, states={"switch.lamp": "off"}, loop_limit=5) as lab:
        await lab.change("switch.lamp", "on")
        await lab.advance(5)
        assert lab.engine is not None
        flipper = lab.engine.rules["flipper"]
        assert not flipper.enabled
        assert flipper.reason and flipper.reason.startswith("suspended: it triggered itself more than 5 times")
        assert len(lab.commands()) <= 7
        assert lab.last("flipper").outcome == "suspended"
        assert lab.hub.counters.get("rules.suspended") == 1
        assert [e.target for e in lab.effects("notify")] == ["Rule 'flipper' suspended"]
        await lab.mqtt("ping", "?")
        assert lab.published()[-1] == ("pong", "ok")  # the hub still answers


async def test_a_loop_through_another_rule_names_it(tmp_path: Path) -> None:
    rules = """
- id: a
  mode: queued
  triggers: [{trigger: state, entity_id: switch.one}]
  actions: [{action: switch.toggle, target: {entity_id: switch.two}}]
- id: b
  mode: queued
  triggers: [{trigger: state, entity_id: switch.two}]
  actions: [{action: switch.toggle, target: {entity_id: switch.one}}]
"""
    async with RuleLab(tmp_path, rules, states={"switch.one": "off", "switch.two": "off"}, loop_limit=3) as lab:
        await lab.change("switch.one", "on")
        await lab.advance(5)
        assert lab.engine is not None
        suspended = [r for r in lab.engine.rules.values() if not r.enabled]
        assert len(suspended) == 1
        assert "through" in (suspended[0].reason or "")
        commands = len(lab.commands())
        await lab.advance(60)
        assert len(lab.commands()) == commands  # it stopped


async def test_a_rule_publishing_to_its_own_topic_is_suspended(tmp_path: Path) -> None:
    rules = """
- id: echo
  triggers: [{trigger: mqtt, topic: "echo/#"}]
  actions: [{action: mqtt.publish, data: {topic: echo/again, payload: "{{ trigger.payload }}"}}]
"""
    async with RuleLab(tmp_path, rules, loop_limit=10) as lab:
        await lab.mqtt("echo/start", "x")
        await lab.advance(1)
        assert lab.engine is not None and not lab.engine.rules["echo"].enabled
        assert len(lab.published()) <= 12


async def test_a_rule_that_starts_itself_is_suspended(tmp_path: Path) -> None:
    rules = """
- id: again
  mode: parallel
  triggers: [{trigger: mqtt, topic: start}]
  actions:
    - delay: 1
    - {action: rule.run, target: {rule_id: again}}
"""
    async with RuleLab(tmp_path, rules, loop_limit=3) as lab:
        await lab.mqtt("start", "x")
        await lab.advance(30)
        assert lab.engine is not None and not lab.engine.rules["again"].enabled
        assert len(lab.traces("again")) <= 6


async def test_single_mode_already_stops_a_rule_that_would_retrigger_itself_while_running(tmp_path: Path) -> None:
    rules = """
- id: flipper
  triggers: [{trigger: state, entity_id: switch.lamp}]
  actions: [{action: switch.toggle, target: {entity_id: switch.lamp}}]
"""
    async with RuleLab(tmp_path, rules, states={"switch.lamp": "off"}) as lab:
        await lab.change("switch.lamp", "on")
        await lab.advance(5)
        assert lab.commands() == ["switch.toggle switch.lamp"]
        assert lab.engine is not None and lab.engine.status()[0].skipped == 1


async def test_many_outside_messages_are_not_a_loop(tmp_path: Path) -> None:
    rules = """
- id: busy
  triggers: [{trigger: mqtt, topic: "sensor/+"}]
  actions: [{action: mqtt.publish, data: {topic: "action/{{ trigger.topic[-1] }}", payload: "{{ trigger.payload }}"}}]
"""
    async with RuleLab(tmp_path, rules, loop_limit=3) as lab:
        for n in range(500):
            lab.hub.mqtt.deliver(Message(f"sensor/{n % 5}", b"1"))
        await lab.settle()
        assert lab.engine is not None and lab.engine.rules["busy"].enabled
        assert len(lab.published()) == 500


async def test_turning_a_suspended_rule_on_again(tmp_path: Path) -> None:
    rules = """
- id: flipper
  mode: queued
  triggers: [{trigger: state, entity_id: switch.lamp}]
  actions: [{action: switch.toggle, target: {entity_id: switch.lamp}}]
- id: fixer
  triggers: [{trigger: mqtt, topic: fix}]
  actions: [{action: rule.turn_on, target: {rule_id: flipper}}]
"""
    async with RuleLab(tmp_path, rules, states={"switch.lamp": "off"}, loop_limit=2) as lab:
        await lab.change("switch.lamp", "on")
        await lab.advance(5)
        assert lab.engine is not None and not lab.engine.rules["flipper"].enabled
        await lab.restart()
        assert not lab.engine.rules["flipper"].enabled  # suspended stays suspended after a restart
        await lab.mqtt("fix", "")
        assert lab.engine.rules["flipper"].enabled
