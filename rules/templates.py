"""Templates in rules: Jinja2 in the hub's sandboxed environment, compiled once when a rule is loaded.

A rule's templates see `trigger` (what fired, with its values), `states('sensor.x')` and
`states.sensor.x.state`, `state_attr()`, `is_state()`, `is_available()`, `now()`, `utcnow()`,
`as_timestamp()`, `today_at('19:00')`, and inside runs `repeat` and `wait`. Rendering errors become
`TemplateFailure` with a plain message, recorded in the run's trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from jinja2 import TemplateError, TemplateSyntaxError

from hub.entity import KINDS
from hub.state import State
from hub.store import StateStore
from hub.template import ENVIRONMENT, TemplateFailure, coerce
from rules.location import Location

__all__ = ["Helpers", "RuleTemplate", "TemplateFailure", "Value", "compile_template", "is_template"]


def is_template(text: str) -> bool:
    """Whether a string contains Jinja markup (otherwise it is used as it is)."""
    return "{{" in text or "{%" in text


class RuleTemplate:
    """A compiled template of a rule, rendered with the run's variables shared, not copied.

    `hub.template.Template` copies the environment's globals and the variables into a new context
    at every render; the rule engine renders two templates per MQTT message on its busiest path,
    so it builds each run's variables once (`Helpers.scope`, globals included) and lets Jinja use
    them as they are — the same sandbox and the same messages, in half the time.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        try:
            self._compiled = ENVIRONMENT.from_string(source)
        except TemplateSyntaxError as exc:
            raise TemplateFailure(f"template does not compile: {exc.message} (template line {exc.lineno})") from exc

    def render(self, scope: Mapping[str, Any]) -> str:
        """Render to text, or raise `TemplateFailure` (`scope` must hold the globals: `Helpers.scope`)."""
        compiled = self._compiled
        try:
            # Jinja only reads a shared parent (`set` writes to the context's own variables).
            context = compiled.new_context(cast(dict[str, Any], scope), shared=True)
            return ENVIRONMENT.concat(compiled.root_render_func(context))
        except TemplateError as exc:
            raise TemplateFailure(f"template failed: {exc.message or exc}") from exc
        except (ArithmeticError, TypeError, ValueError, LookupError) as exc:
            raise TemplateFailure(f"template failed: {exc}") from exc

    def render_value(self, scope: Mapping[str, Any]) -> Any:
        """Render and turn '12.5', 'true' and the like into Python values; other text stays text."""
        return coerce(self.render(scope))


def compile_template(text: str) -> RuleTemplate:
    """Compile once; `ValueError` with the compiler's message if it does not compile."""
    try:
        return RuleTemplate(text)
    except TemplateFailure as exc:
        raise ValueError(str(exc)) from None


class Value:
    """A value from a rule file whose strings may be templates; `render()` gives plain Python data.

    The data may hold already compiled `Template`s (the loader compiles each string where it can
    report its position) or template strings (compiled here).
    """

    def __init__(self, data: Any) -> None:
        self.source = _plain(data)
        self.has_template = _contains_template(data)
        self._plain = self.source if not self.has_template else None
        self._compiled = _compile(data) if self.has_template else None

    def render(self, scope: Mapping[str, Any], *, text: bool = False) -> Any:
        """The value with every template rendered (`text`: keep template results as text)."""
        if not self.has_template:
            return self._plain
        return _render(self._compiled, scope, text)


def _contains_template(data: Any) -> bool:
    if isinstance(data, RuleTemplate):
        return True
    if isinstance(data, str):
        return is_template(data)
    if isinstance(data, Mapping):
        return any(_contains_template(v) for v in data.values())
    if isinstance(data, list | tuple):
        return any(_contains_template(v) for v in data)
    return False


def plain(data: Any) -> Any:
    """YAML data as plain dicts, lists and scalars (templates as their text)."""
    return _plain(data)


def _plain(data: Any) -> Any:
    # ruamel's CommentedMap/Seq carry positions and comments; runs and traces want plain data.
    if isinstance(data, RuleTemplate):
        return data.source
    if isinstance(data, Mapping):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(v) for v in data]
    return data


def _compile(data: Any) -> Any:
    if isinstance(data, str):
        return compile_template(data) if is_template(data) else data
    if isinstance(data, Mapping):
        return {str(k): _compile(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_compile(v) for v in data]
    return data


def _render(compiled: Any, scope: Mapping[str, Any], text: bool) -> Any:
    if isinstance(compiled, RuleTemplate):
        return compiled.render(scope) if text else compiled.render_value(scope)
    if isinstance(compiled, dict):
        return {k: _render(v, scope, text) for k, v in compiled.items()}
    if isinstance(compiled, list):
        return [_render(v, scope, text) for v in compiled]
    return compiled


def truthy(template: RuleTemplate, scope: Mapping[str, Any]) -> tuple[bool, Any]:
    """Render a condition template: true for `true`/`True`, `on`, `yes` or a non-zero number."""
    value = coerce(template.render(scope))
    if isinstance(value, bool):
        return value, value
    if isinstance(value, int | float):
        return value != 0, value
    return str(value).lower() in ("on", "yes"), value


def state_value(state: State | None) -> Any:
    """What a template sees as an entity's state: its value, or 'unavailable' / 'unknown'."""
    if state is None or not state.available:
        return "unavailable"
    return "unknown" if state.value is None else state.value


def state_view(state: State | None, location: Location) -> dict[str, Any] | None:
    """A state as templates and traces see it (`.state`, `.attributes`, `.last_changed`, ...)."""
    if state is None:
        return None
    return {
        "entity_id": state.entity_id,
        "state": state_value(state),
        "attributes": dict(state.attributes),
        "available": state.available,
        "last_changed": location.local(state.last_changed),
        "last_updated": location.local(state.last_updated),
    }


class _KindStates:
    """`states.sensor` — the entities of one kind, by object id."""

    def __init__(self, store: StateStore, location: Location, kind: str) -> None:
        self._store = store
        self._location = location
        self._kind = kind

    def __getattr__(self, object_id: str) -> dict[str, Any] | None:
        if object_id.startswith("_"):
            raise AttributeError(object_id)
        return state_view(self._store.get(f"{self._kind}.{object_id}"), self._location)


class StatesAccess:
    """`states('sensor.x')` gives the state value; `states.sensor.x` the whole state."""

    def __init__(self, store: StateStore, location: Location) -> None:
        self._store = store
        self._location = location

    def __call__(self, entity_id: str) -> Any:
        return state_value(self._store.get(entity_id))

    def __getattr__(self, kind: str) -> _KindStates:
        # Only entity kinds: the sandbox asks for attributes like `unsafe_callable` before calling.
        if kind not in KINDS:
            raise AttributeError(kind)
        return _KindStates(self._store, self._location, kind)


class Helpers:
    """The functions every rule template can call, bound to one hub's states and clock."""

    def __init__(self, store: StateStore, clock_time: Any, location: Location) -> None:
        self._store = store
        self._time = clock_time
        self._location = location
        self.globals: dict[str, Any] = {
            **ENVIRONMENT.globals,  # range, dict, float, int, ...: renders share the scope instead of merging these
            "states": StatesAccess(store, location),
            "is_state": self.is_state,
            "state_attr": self.state_attr,
            "is_available": self.is_available,
            "now": self.now,
            "utcnow": self.utcnow,
            "as_timestamp": as_timestamp,
            "today_at": self.today_at,
        }

    def scope(self, trigger: Mapping[str, Any], this: Mapping[str, Any]) -> dict[str, Any]:
        """The variables of one run."""
        return {**self.globals, "trigger": trigger, "this": this}

    def is_state(self, entity_id: str, value: Any) -> bool:
        """Whether the entity is in this state (or one of a list of states)."""
        current = state_value(self._store.get(entity_id))
        choices = value if isinstance(value, list | tuple) else [value]
        return any(same_state(current, choice) for choice in choices)

    def state_attr(self, entity_id: str, name: str) -> Any:
        """An attribute of an entity, or None."""
        state = self._store.get(entity_id)
        return None if state is None else state.attributes.get(name)

    def is_available(self, entity_id: str) -> bool:
        """Whether the entity's device is reachable."""
        state = self._store.get(entity_id)
        return state is not None and state.available

    def now(self) -> datetime:
        """The local time (the hub's time zone)."""
        return self._location.local(self._time())

    def utcnow(self) -> datetime:
        """The time in UTC."""
        return datetime.fromtimestamp(self._time(), UTC)

    def today_at(self, text: str = "00:00") -> datetime:
        """Today's local date at a wall-clock time like '19:00'."""
        hours, _, rest = text.partition(":")
        minutes, _, seconds = rest.partition(":")
        return self.now().replace(hour=int(hours), minute=int(minutes or 0), second=int(seconds or 0), microsecond=0)


def as_timestamp(value: Any) -> float:
    """Epoch seconds of a datetime or an ISO text."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()


def same_state(current: Any, expected: Any) -> bool:
    """Whether a state value equals what a rule wrote (numbers compare as numbers, the rest as text)."""
    if isinstance(current, bool) or isinstance(expected, bool):
        return _as_text(current) == _as_text(expected)
    if isinstance(current, int | float) and isinstance(expected, int | float):
        return float(current) == float(expected)
    return _as_text(current) == _as_text(expected)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
