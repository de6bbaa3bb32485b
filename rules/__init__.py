"""The rule engine: YAML automations with triggers, conditions and actions, run against the hub.

Built on the hub core; never talks to MQTT or serial directly (it asks the hub, through the
`RulesHub` protocol) and never imports `devices/`.

- `RuleEngine(hub)` — loads the rules directory, runs the rules, reloads changed files, keeps
  traces (`status()`, `traces(rule_id)`, `errors`) for the panel and the CLI.
- `check_rules(config)` — what `hausmeister check` reports about the rules.
- `load_rule_file(path)` — validate one file (`ConfigError` with `file:line:col` issues).
- `run_file(path)` — run the scenarios of a `*.test.yaml` file (`hausmeister rules test`).

Modules, one concept each: `schema` (the language as models), `builder` and `loader` (YAML to
rules, with positions), `triggers`, `schedules`, `holds` (`for:`), `conditions`, `actions`, `flow`,
`templates`, `run`, `modes`, `eager`, `rule`, `engine`, `guard` (loop protection), `traces`,
`database`, `deadlines`, `outbox`, `watch`, `reload`, `location`, `durations`, `check`,
`scenarios` with `sandbox`, `report` and `cli`.
"""

from rules.check import RulesReport, check_rules
from rules.engine import RuleEngine, RuleStatus
from rules.hubapi import MqttPort, RulesHub
from rules.loader import RuleDef, RuleFile, load_rule_file
from rules.scenarios import ScenarioResult, run_file
from rules.traces import Trace

__all__ = [
    "MqttPort",
    "RuleDef",
    "RuleEngine",
    "RuleFile",
    "RuleStatus",
    "RulesHub",
    "RulesReport",
    "ScenarioResult",
    "Trace",
    "check_rules",
    "load_rule_file",
    "run_file",
]
