"""The rule engine half of the micro-benchmark: a hub without devices or network, 100 rules.

The rules are the benchmark's, triggered by state instead of MQTT: "sensor.bench_k rises above 50 →
publish {"seq": …} to bench/action/k". State changes go `StateStore.set()` → bus → the engine's
one listener → the rule's `numeric_state` trigger; about one change in ten crosses the threshold
and runs the rule, whose publish goes to a port that only counts (no I/O).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.micro import SENSORS
from bench.scenario import FIRE_EVERY
from hub.bus import EventBus
from hub.clock import Clock, SystemClock
from hub.config import Config, HubConfig
from hub.counters import Counters
from hub.entity import EntitySpec
from hub.state import State
from hub.store import StateStore
from hub.timers import TimerStore
from rules.engine import RuleEngine
from rules.hubapi import MessageHandler

RULES = 100

RULE = """\
- id: bench_{k}
  triggers:
    - trigger: numeric_state
      entity_id: sensor.bench_{k}
      above: 50
  actions:
    - action: mqtt.publish
      data: {{topic: bench/action/{k}, payload: '{{"value": {{{{ trigger.to_state.state }}}}}}'}}
"""


class CountingMqtt:
    """An MQTT port that is always connected and only counts what is published."""

    connected = True

    def __init__(self) -> None:
        self.published = 0

    async def subscribe(self, topic_filter: str, handler: MessageHandler, *, qos: int = 1) -> Callable[[], None]:
        """Nothing arrives here."""
        return lambda: None

    async def publish(self, topic: str, payload: bytes | str, *, qos: int = 0, retain: bool = False) -> None:
        """Count."""
        self.published += 1


class BenchHub:
    """The slice of a hub the rule engine uses (`rules.hubapi.RulesHub`), without devices or I/O."""

    def __init__(self, config: Config, timers: TimerStore) -> None:
        self.config = config
        self.clock: Clock = SystemClock()
        self.counters = Counters()
        self.bus = EventBus(self.counters)
        self.store = StateStore(self.bus, self.clock)
        self.mqtt = CountingMqtt()
        self.timers: TimerStore | None = timers

    async def command(self, entity_id: str, action: str, /, *, source: str = "", **params: Any) -> State:
        """The benchmark's rules send no commands."""
        raise NotImplementedError


async def with_rules(count: int) -> dict[str, Any]:
    """State changes per second through the store and the bus to the engine with 100 rules."""
    with tempfile.TemporaryDirectory(prefix="hm-micro-") as folder:
        root = Path(folder)
        (root / "rules").mkdir()
        (root / "rules" / "bench.yaml").write_text("".join(RULE.format(k=k) for k in range(RULES)), encoding="utf-8")
        settings = HubConfig.model_validate(
            {"hub": {"data_dir": str(root / "data")}, "rules": {"directory": str(root / "rules")}}
        )
        config = Config(settings, [], root / "config.yaml")
        config.data_dir.mkdir()
        async with TimerStore(config.data_dir / "timers.db") as timers:
            hub = BenchHub(config, timers)
            for k in range(SENSORS):
                hub.store.add(EntitySpec(f"sensor.bench_{k}"))
                hub.store.set(f"sensor.bench_{k}", 0.5)
            async with RuleEngine(hub) as engine:
                seconds = await _drive(hub, count)
                if engine.errors:
                    raise RuntimeError(f"the benchmark rules did not load: {engine.errors}")
    fired = hub.mqtt.published
    return {"rules_events_per_s": count / seconds, "rules_fired": fired}


async def _drive(hub: BenchHub, count: int) -> float:
    ids = [f"sensor.bench_{k}" for k in range(SENSORS)]
    store = hub.store
    began = time.perf_counter()
    for n in range(count):
        sensor, round_ = n % SENSORS, n // SENSORS
        fires = round_ % FIRE_EVERY == 0
        store.set(ids[sensor], 51.5 + round_ % 40 if fires else 0.5 + round_ % 50)
        if n % 1000 == 999:
            await asyncio.sleep(0)  # let the outbox hand over what the rules published
    await asyncio.sleep(0)
    return time.perf_counter() - began
