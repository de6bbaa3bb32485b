"""The `hausmeister` command: run the service, check a configuration, start the demo."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from hub import logs
from hub.config import Config, load_config
from hub.errors import ConfigError, HubError
from hub.history import export as history_export

log = logging.getLogger("hausmeister")


def _version() -> str:
    try:
        return version("hausmeister")
    except PackageNotFoundError:
        return "0+unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="hausmeister", description="A local automation hub for house, workshop and office."
    )
    parser.add_argument("--version", action="version", version=f"hausmeister {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the hub (the service)")
    run.add_argument("-c", "--config", type=Path, required=True, help="the configuration file")
    check = sub.add_parser("check", help="check a configuration (and its rules) without starting")
    check.add_argument("-c", "--config", type=Path, required=True, help="the configuration file")
    demo = sub.add_parser("demo", help="start a demo with an embedded broker and simulated devices")
    demo.add_argument("--mqtt-port", type=int, default=1883, help="port of the embedded MQTT broker (default 1883)")
    demo.add_argument("--data-dir", type=Path, default=Path("hausmeister-demo"), help="where the demo keeps its data")
    history_export.add_parser(sub)
    from rules.cli import add_parser as add_rules_parser

    add_rules_parser(sub)
    return parser


def load(path: Path) -> Config:
    """Load a configuration with every registered driver's model."""
    from devices.registry import config_models, load_registry

    return load_config(path, config_models(load_registry()))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logs.setup(args.verbose)
    try:
        if args.command == "check":
            return _check(args.config)
        if args.command == "run":
            config = load(args.config)
            logs.setup(args.verbose, config.settings.log_level)
            return _serve(lambda stop: _run_hub(config, stop))
        if args.command == "demo":
            from hub.demo import run_demo

            data_dir = args.data_dir.resolve()
            data_dir.mkdir(parents=True, exist_ok=True)
            return _serve(lambda stop: run_demo(args.mqtt_port, data_dir, stop))
        if args.command == "history":
            return history_export.run(args, load(args.config))
        if args.command == "rules":
            from rules.cli import run as run_rules

            return run_rules(args, load(args.config) if args.config else None)
    except ConfigError as exc:
        _print_issues(exc)
        return 1
    except HubError as exc:
        print(f"hausmeister: {exc}", file=sys.stderr)
        return 2
    return 2


def _check(path: Path) -> int:
    from rules.check import check_rules

    config = load(path)
    entities = sum(len(list(device.entity_ids())) for device in config.devices)
    report = check_rules(config)
    if report.errors:
        raise ConfigError(report.errors)
    print(f"{path}: configuration is valid ({len(config.devices)} devices, {entities} declared entities)")
    rules, files = report.rules, report.files
    print(f"{config.rules_dir}: {rules} rule{'s' * (rules != 1)} in {files} file{'s' * (files != 1)}, valid")
    for warning in report.warnings:
        print(f"  warning: {warning}")
    return 0


def _print_issues(exc: ConfigError) -> None:
    count = len(exc.issues)
    print(f"The configuration has {count} problem{'s' if count != 1 else ''}:", file=sys.stderr)
    for issue in exc.issues:
        print(f"  {issue}", file=sys.stderr)


async def _run_hub(config: Config, stop: asyncio.Event) -> None:
    from hub.supervisor import Hub

    async with Hub(config):
        # Everything made while starting (config, rules, templates, modules) lives as long as the
        # hub: keep it out of the garbage collector's full passes, which otherwise stall the event
        # loop for tens of milliseconds (measured: 30-55 ms → 3 ms per full pass; bench/README.md).
        gc.freeze()
        await stop.wait()


def _serve(main_coro: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> int:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await main_coro(stop)

    asyncio.run(runner())
    return 0
