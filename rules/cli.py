"""`hausmeister rules list | trace | test`: what the rules are, what they did, whether they work.

`hub.cli` adds these subcommands and passes the loaded configuration in; this module never loads
device drivers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

from hub.config import Config
from hub.errors import ConfigError
from rules.database import read_summary, read_traces
from rules.loader import RuleDef, load_rule_file, rule_files
from rules.location import Location
from rules.report import format_trace
from rules.scenarios import ScenarioResult, run_file, scenario_files


def add_parser(subcommands: Any) -> None:
    """Add `rules` and its subcommands to the `hausmeister` parser."""
    rules = subcommands.add_parser("rules", help="list rules, show their traces, run rule scenarios")
    sub = rules.add_subparsers(dest="rules_command", required=True)
    listing = sub.add_parser("list", help="every rule, whether it is on, and its last run")
    listing.add_argument("-c", "--config", type=Path, required=True, help="the configuration file")
    trace = sub.add_parser("trace", help="the latest runs of a rule: trigger, conditions, actions")
    trace.add_argument("rule_id", help="the id of the rule")
    trace.add_argument("-c", "--config", type=Path, required=True, help="the configuration file")
    trace.add_argument("-n", "--count", type=int, default=3, help="how many runs to show (default 3)")
    test = sub.add_parser("test", help="run rule scenarios (*.test.yaml) against the rules, with a fake clock")
    test.add_argument("path", nargs="?", type=Path, help="a scenario file or a folder (default: the rules folder)")
    test.add_argument("-c", "--config", type=Path, help="the configuration (time zone, location)")


def run(args: argparse.Namespace, config: Config | None) -> int:
    """Run a `rules` subcommand; returns the exit code."""
    if args.rules_command == "test":
        return _test(args.path, config)
    assert config is not None  # -c is required for list and trace
    if args.rules_command == "list":
        return _list(config)
    return _trace(config, args.rule_id, args.count)


def _location(config: Config) -> Location:
    try:
        return Location.from_settings(config.settings.hub)
    except ValueError as exc:
        raise ConfigError.single(str(config.path), 1, 1, f"hub: time_zone: {exc}") from None


def _list(config: Config) -> int:
    location = _location(config)
    latest, states = read_summary(config.data_dir)
    files = rule_files(config.rules_dir)
    rules: list[RuleDef] = []
    problems: list[str] = []
    for path in files:
        try:
            rules.extend(load_rule_file(path, location).rules)
        except ConfigError as exc:
            problems.extend(str(issue) for issue in exc.issues)
    print(f"Rules in {config.rules_dir}: {len(rules)} in {len(files)} file{'s' if len(files) != 1 else ''}")
    width = max((len(r.id) for r in rules), default=10)
    for rule in sorted(rules, key=lambda r: r.id):
        state = states.get(rule.id)
        on = state.enabled if state else rule.enabled
        word = "on " if on else ("suspended" if state and state.reason and "suspended" in state.reason else "off")
        last = latest.get(rule.id)
        when = f"last {location.local(last.started):%Y-%m-%d %H:%M} {last.outcome}" if last else "never triggered"
        print(f"  {rule.id:<{width}}  {word:<9}  {rule.name[:44]:<44}  {when}")
        if state and not state.enabled and state.reason:
            print(f"  {'':<{width}}  {'':<9}  {state.reason}")
    if problems:
        print("\nThese files are not loaded (fix them; the hub keeps running the rules they held before):")
        for problem in problems:
            print(f"  {problem}")
    return 1 if problems else 0


def _trace(config: Config, rule_id: str, count: int) -> int:
    location = _location(config)
    traces = read_traces(config.data_dir, rule_id, count)
    if not traces:
        print(f"No runs of '{rule_id}' are recorded in {config.data_dir}.", file=sys.stderr)
        return 1
    print(f"{rule_id}: the latest {len(traces)} run{'s' if len(traces) != 1 else ''}, newest first\n")
    print("\n\n".join(format_trace(trace, location) for trace in traces))
    return 0


def _test(path: Path | None, config: Config | None) -> int:
    # One "rules loaded" line per scenario is noise here; failures are reported below.
    logging.getLogger("rules.engine").setLevel(logging.WARNING)
    target = path or (config.rules_dir if config else Path.cwd())
    files = scenario_files(target)
    if not files:
        print(f"No scenario files (*.test.yaml) in {target}.", file=sys.stderr)
        return 1
    results: list[ScenarioResult] = []
    for file in files:
        results.extend(asyncio.run(run_file(file, config)))
    for result in results:
        print(f"{'PASS' if result.passed else 'FAIL'}  {result.file.name}: {result.name}")
        if not result.passed:
            _explain(result)
    failed = sum(not r.passed for r in results)
    print(
        f"\n{len(results)} scenario{'s' if len(results) != 1 else ''}: {len(results) - failed} passed, {failed} failed"
    )
    return 1 if failed else 0


def _explain(result: ScenarioResult) -> None:
    for failure in result.failures:
        print(f"      {failure}")
    if result.traces:
        print("      What the rules did (latest runs first):")
        for trace in sorted(result.traces, key=lambda t: t.started, reverse=True)[:8]:
            text = format_trace(trace, result.location).replace("\n", "\n        ")
            print(f"        {trace.rule_id} · {text}")
