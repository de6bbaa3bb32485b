"""Loop protection: a rule that keeps triggering itself is suspended before it floods the house.

Each run carries its *chain*: the rules whose actions led to it. When a run commands an entity or
publishes on a topic, the guard remembers that effect with the chain for a few seconds; a trigger
that fires on that entity or topic inherits the chain. A rule that finds itself in its own chain
triggered itself (directly, or through other rules); if that happens more than `limit` times
within `window` seconds, the rule is suspended with a clear reason.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

Chain = frozenset[str]
NO_CHAIN: Chain = frozenset()

EFFECT_MEMORY = 10.0  # seconds an effect is attributed to the chain that caused it (a slow device's reply)
_PRUNE_AT = 4096


class LoopGuard:
    """Causal chains of effects, and a per-rule count of self-triggered runs."""

    def __init__(self, time: Callable[[], float], limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._time = time
        self._entities: dict[str, tuple[Chain, float]] = {}
        self._topics: dict[str, tuple[Chain, float]] = {}
        self._loops: dict[str, deque[float]] = {}
        self._pruned = 0.0

    def touched_entity(self, entity_id: str, chain: Chain) -> None:
        """A run with `chain` commanded this entity."""
        self._remember(self._entities, entity_id, chain)

    def touched_topic(self, topic: str, chain: Chain) -> None:
        """A run with `chain` published on this topic."""
        self._remember(self._topics, topic, chain)

    def entity_cause(self, entity_id: str) -> Chain:
        """The chain of rules that recently acted on this entity (empty: nobody)."""
        return self._lookup(self._entities, entity_id)

    def topic_cause(self, topic: str) -> Chain:
        """The chain of rules that recently published on this topic."""
        return self._lookup(self._topics, topic)

    def looped(self, rule_id: str) -> bool:
        """Note that the rule triggered itself; true when it did so too often (suspend it)."""
        now = self._time()
        times = self._loops.setdefault(rule_id, deque())
        times.append(now)
        while times and times[0] < now - self.window:
            times.popleft()
        return len(times) > self.limit

    def reset(self, rule_id: str) -> None:
        """Forget a rule's loop count (it was turned on again or reloaded)."""
        self._loops.pop(rule_id, None)

    def _remember(self, effects: dict[str, tuple[Chain, float]], key: str, chain: Chain) -> None:
        now = self._time()
        # Forgetting old effects costs a pass over them: only when there are many, at most once a second.
        if len(effects) >= _PRUNE_AT and now - self._pruned >= 1.0:
            self._pruned = now
            for stale in [k for k, (_, until) in effects.items() if until < now]:
                del effects[stale]
        effects[key] = (chain, now + EFFECT_MEMORY)

    def _lookup(self, effects: dict[str, tuple[Chain, float]], key: str) -> Chain:
        found = effects.get(key)
        if found is None or found[1] < self._time():
            return NO_CHAIN
        return found[0]
