"""Rule files: found in the rules directory, read with positions, validated as a whole.

A file holds a list of rules (or a mapping with a `rules:` key). A file with any problem is
rejected whole, with every problem as `file:line:col: message`; the engine keeps running the
rules that file held before. Files named `*.test.yaml` are rule scenarios, not rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.errors import ConfigError, Issue
from hub.yamlfile import Loc, load_file, load_text, position
from rules import actions as act
from rules import conditions as cond
from rules import triggers as trig
from rules.builder import Builder, EntityRef, RuleRef, fingerprint
from rules.location import Location
from rules.schema import RuleModel
from rules.templates import plain

SUFFIXES = (".yaml", ".yml")
SCENARIO_SUFFIXES = (".test.yaml", ".test.yml")


@dataclass(frozen=True)
class RuleDef:
    """A loaded, validated rule, its parts built and ready to attach."""

    id: str
    alias: str | None
    description: str | None
    mode: str
    max: int
    enabled: bool
    late: str | float
    triggers: tuple[trig.Trigger, ...]
    conditions: tuple[cond.Condition, ...]
    actions: tuple[act.Action, ...]
    file: str
    line: int
    fingerprint: str
    actions_fingerprint: str

    @property
    def name(self) -> str:
        """What to call the rule in messages."""
        return self.alias or self.id


@dataclass(frozen=True)
class RuleFile:
    """The rules of one file, and what they refer to."""

    path: str
    rules: tuple[RuleDef, ...] = ()
    entities: tuple[EntityRef, ...] = ()
    rule_refs: tuple[RuleRef, ...] = field(default_factory=tuple)


def rule_files(directory: Path) -> list[Path]:
    """The rule files in a directory and its subdirectories (no hidden files, no scenarios)."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.rglob("*"):
        relative = path.relative_to(directory)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        name = path.name.lower()
        if name.endswith(SUFFIXES) and not name.endswith(SCENARIO_SUFFIXES) and name != "secrets.yaml":
            found.append(path)
    return sorted(found)


def load_rule_file(path: Path, location: Location | None = None) -> RuleFile:
    """Read and validate one rule file; `ConfigError` with every problem if it is not right."""
    return parse_rules(load_file(path), str(path), location)


def load_rule_text(text: str, filename: str, location: Location | None = None) -> RuleFile:
    """Validate rules given as text (used by tests and the scenario runner)."""
    return parse_rules(load_text(text, filename), filename, location)


def parse_rules(root: Any, filename: str, location: Location | None = None) -> RuleFile:
    """Validate already-read YAML; `ConfigError` with every problem if it is not right."""
    if root is None:
        return RuleFile(filename)
    listing: Any = root
    prefix: Loc = ()
    if isinstance(root, Mapping):
        if set(root) != {"rules"}:
            raise ConfigError.single(filename, 1, 1, "a rule file holds a list of rules (or 'rules:' with a list)")
        listing, prefix = root["rules"], ("rules",)
    if listing is None:
        return RuleFile(filename)
    if not isinstance(listing, list):
        line, column = position(root, prefix)
        raise ConfigError.single(
            filename, line, column, "a rule file holds a list of rules, each starting with '- id:'"
        )
    builder = Builder(root, filename, location)
    rules = [_rule(builder, item, (*prefix, index)) for index, item in enumerate(listing)]
    _no_duplicates(builder, rules, prefix)
    if builder.issues:
        raise ConfigError(sorted(set(builder.issues), key=lambda i: (i.line, i.column, i.message)))
    return RuleFile(
        filename, tuple(r for r in rules if r is not None), tuple(builder.entities), tuple(builder.rule_refs)
    )


def _rule(builder: Builder, raw: Any, loc: Loc) -> RuleDef | None:
    if not isinstance(raw, Mapping):
        builder.issue(loc, "a rule must be a mapping with 'id:', 'triggers:' and 'actions:'")
        return None
    model = builder.model(RuleModel, raw, loc)
    if model is None:
        return None
    builder.rule_loc = loc
    triggers_key = _key(raw, "triggers", "trigger")
    actions_key = _key(raw, "actions", "action")
    conditions_key = _key(raw, "conditions", "condition")
    issues_before = len(builder.issues)
    triggers = builder.triggers(model.triggers, (*loc, triggers_key))
    conditions = builder.conditions(model.conditions, (*loc, conditions_key))
    actions = builder.actions(model.actions, (*loc, actions_key))
    if not triggers and len(builder.issues) == issues_before:
        builder.issue((*loc, triggers_key), "a rule needs at least one trigger")
    if not actions and len(builder.issues) == issues_before:
        builder.issue((*loc, actions_key), "a rule needs at least one action")
    line, _ = position(builder.root, loc)
    return RuleDef(
        id=model.id,
        alias=model.alias,
        description=model.description,
        mode=model.mode,
        max=model.max,
        enabled=model.enabled,
        late=model.late,
        triggers=tuple(triggers),
        conditions=tuple(conditions),
        actions=tuple(actions),
        file=builder.filename,
        line=line,
        fingerprint=fingerprint(plain(raw)),
        actions_fingerprint=fingerprint(plain(raw.get(actions_key))),
    )


def _key(raw: Mapping[str, Any], plural: str, singular: str) -> str:
    return singular if singular in raw and plural not in raw else plural


def _no_duplicates(builder: Builder, rules: Sequence[RuleDef | None], prefix: Loc) -> None:
    seen: dict[str, RuleDef] = {}
    for index, rule in enumerate(rules):
        if rule is None:
            continue
        first = seen.setdefault(rule.id, rule)
        if first is not rule:
            builder.issue(
                (*prefix, index, "id"),
                f"the rule id '{rule.id}' is used twice in this file (first at line {first.line})",
            )


def clashes(new: RuleFile, others: Iterable[RuleFile]) -> list[Issue]:
    """Rule ids of `new` already used by rules in other files."""
    taken = {rule.id: rule for other in others if other.path != new.path for rule in other.rules}
    return [
        Issue(
            rule.file,
            rule.line,
            1,
            f"the rule id '{rule.id}' is already used in {taken[rule.id].file}:{taken[rule.id].line}",
        )
        for rule in new.rules
        if rule.id in taken
    ]
