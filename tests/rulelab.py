"""A small lab for rule tests: rule files in tmp_path, the real engine on a sandbox hub, a fake clock.

    async with RuleLab(tmp_path, RULES, states={"switch.pump": "off"}) as lab:
        lab.set("sensor.x", 31)
        await lab.advance(600)
        assert lab.commands() == ["switch.turn_on switch.pump"]

`restart()` closes the engine and opens a new one on the same data directory, as a hub restart
does; the states stay (as devices report them again at once).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from hub.clock import FakeClock
from hub.config import Config, HubConfig, HubSection, RulesSection
from hub.events import HubStarted
from rules.engine import RuleEngine
from rules.sandbox import Effect, Message, SandboxHub
from rules.traces import Trace

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_NOON = datetime(2026, 5, 11, 12, 0, tzinfo=BERLIN)


def lab_config(tmp_path: Path, **rules: Any) -> Config:
    """A configuration for Berlin with rules and data under tmp_path."""
    hub = HubSection(time_zone="Europe/Berlin", latitude=52.52, longitude=13.40, data_dir=tmp_path / "data")
    return Config(HubConfig(hub=hub, rules=RulesSection(directory=tmp_path / "rules", **rules)))


class RuleLab:
    """The engine running the rules of a folder, on a hub without devices."""

    def __init__(
        self,
        tmp_path: Path,
        rules: str | dict[str, str] = "",
        *,
        states: dict[str, Any] | None = None,
        start: datetime = MONDAY_NOON,
        **settings: Any,
    ) -> None:
        self.folder = tmp_path / "rules"
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, text in ({"rules.yaml": rules} if isinstance(rules, str) else rules).items():
            (self.folder / name).write_text(text, encoding="utf-8")
        # The folder is checked on demand (`reload()`), not every 3 s of the days of fake time tests let pass.
        self.config = lab_config(tmp_path, **{"reload_interval": 86400.0, **settings})
        self.clock = FakeClock(start)
        self.hub = SandboxHub(self.config, self.clock)
        self.states = states or {}
        self.engine: RuleEngine | None = None

    async def __aenter__(self) -> RuleLab:
        await self.hub.__aenter__()
        for entity_id, value in self.states.items():
            self.hub.entity(entity_id, value)
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
        await self.hub.__aexit__(exc_type, exc, tb)

    async def open(self) -> RuleEngine:
        """Start an engine (and tell it the hub has started)."""
        self.engine = await RuleEngine(self.hub).__aenter__()
        await self.settle()
        self.hub.bus.publish(HubStarted(self.clock.time()))
        await self.settle()
        return self.engine

    async def close(self) -> None:
        """Stop the engine."""
        if self.engine is not None:
            await self.engine.__aexit__(None, None, None)
            self.engine = None

    async def restart(self, down: float = 0.0) -> RuleEngine:
        """Stop the engine, let `down` seconds pass, start a new one on the same data."""
        await self.close()
        await self.clock.advance(down)
        return await self.open()

    async def settle(self) -> None:
        """Let tasks started by the last event reach their first wait."""
        await self.clock.advance(0)
        for _ in range(20):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Let fake time pass."""
        await self.settle()
        await self.clock.advance(seconds)
        await self.settle()

    async def at(self, hour: int, minute: int = 0, day: int | None = None) -> None:
        """Let time pass until a local time (today, or a day of the month)."""
        now = datetime.fromtimestamp(self.clock.time(), BERLIN)
        target = now.replace(day=day or now.day, hour=hour, minute=minute, second=0, microsecond=0)
        await self.advance(target.timestamp() - self.clock.time())

    def set(self, entity_id: str, value: Any = None, **kwargs: Any) -> None:
        """Set a state (creating the entity)."""
        self.hub.entity(entity_id, value, **kwargs)

    async def change(self, entity_id: str, value: Any = None, **kwargs: Any) -> None:
        """Set a state and let the rules react."""
        self.set(entity_id, value, **kwargs)
        await self.settle()

    async def mqtt(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        """A message arrives."""
        data = payload.encode() if isinstance(payload, str) else payload
        self.hub.mqtt.deliver(Message(topic, data, 0, retain))
        await self.settle()

    def write(self, name: str, text: str) -> Path:
        """Write (or rewrite) a rule file, with a new modification time."""
        path = self.folder / name
        path.write_text(text, encoding="utf-8")
        return path

    async def reload(self) -> None:
        """Let the engine pick up changed files now."""
        assert self.engine is not None
        await self.engine.reload()
        await self.settle()

    def effects(self, kind: str | None = None) -> list[Effect]:
        """What the rules did, in order."""
        return [e for e in self.hub.effects if kind is None or e.kind == kind]

    def commands(self) -> list[str]:
        """The commands sent, as 'kind.command entity_id'."""
        return [e.target for e in self.effects("command")]

    def published(self) -> list[tuple[str, str]]:
        """(topic, payload) of what the rules published."""
        return [(e.target, e.data["payload"]) for e in self.effects("publish")]

    def traces(self, rule_id: str) -> list[Trace]:
        """The rule's traces, newest first."""
        assert self.engine is not None
        return self.engine.traces(rule_id)

    def last(self, rule_id: str) -> Trace:
        """The rule's newest trace."""
        traces = self.traces(rule_id)
        assert traces, f"rule {rule_id} has no trace"
        return traces[0]
