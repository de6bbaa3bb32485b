"""`hausmeister check` for rules: every rule file validated, and what the rules refer to checked
against the configuration — entities, rules, and the location sunrise / sunset need.

Only the entities a configuration declares are known before the hub runs; devices that find
their entities by themselves (MQTT discovery, a Zigbee2MQTT bridge: a device declaring no entity
in the file) create more at run time. So an entity no device declares is an error when every
device declares its entities, and a warning when some device may still bring it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.config import Config
from hub.errors import ConfigError, Issue
from hub.validation import suggest
from rules.loader import RuleFile, clashes, load_rule_file, rule_files
from rules.location import Location


@dataclass
class RulesReport:
    """What checking the rules found."""

    files: int = 0
    rules: int = 0
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)


def check_rules(config: Config) -> RulesReport:
    """Validate every rule file of the configuration's rules directory."""
    report = RulesReport()
    try:
        location = Location.from_settings(config.settings.hub)
    except ValueError as exc:
        report.errors.append(Issue(str(config.path or "configuration"), 1, 1, f"hub: time_zone: {exc}"))
        return report
    loaded: list[RuleFile] = []
    for path in rule_files(config.rules_dir):
        report.files += 1
        try:
            rule_file = load_rule_file(path, location)
        except ConfigError as exc:
            report.errors.extend(exc.issues)
            continue
        report.errors.extend(clashes(rule_file, loaded))
        loaded.append(rule_file)
        report.rules += len(rule_file.rules)
    _check_entities(config, loaded, report)
    _check_rule_refs(loaded, report)
    return report


def _check_entities(config: Config, loaded: list[RuleFile], report: RulesReport) -> None:
    declared = {entity_id for device in config.devices for entity_id, _ in device.entity_ids()}
    finders = [device.name for device in config.devices if not list(device.entity_ids())]
    for ref in (ref for rule_file in loaded for ref in rule_file.entities):
        if ref.entity_id in declared:
            continue
        hint = suggest(ref.entity_id, declared)
        guess = f" — did you mean '{hint}'?" if hint else ""
        if finders:
            message = (
                f"no device declares the entity '{ref.entity_id}'{guess} (it may still come from a device "
                f"that finds its entities by itself: {', '.join(finders)})"
            )
            report.warnings.append(Issue(ref.file, ref.line, ref.column, message))
        else:
            message = (
                f"unknown entity '{ref.entity_id}'{guess}"
                if hint
                else f"no device declares the entity '{ref.entity_id}'"
            )
            report.errors.append(Issue(ref.file, ref.line, ref.column, message))


def _check_rule_refs(loaded: list[RuleFile], report: RulesReport) -> None:
    known = {rule.id for rule_file in loaded for rule in rule_file.rules}
    for ref in (ref for rule_file in loaded for ref in rule_file.rule_refs):
        if ref.rule_id not in known:
            hint = suggest(ref.rule_id, known)
            tail = f" — did you mean '{hint}'?" if hint else ""
            report.errors.append(Issue(ref.file, ref.line, ref.column, f"there is no rule '{ref.rule_id}'{tail}"))
