"""`python -m bench`: run the benchmark (see bench/README.md).

    python -m bench             # full run, a few minutes
    python -m bench --quick     # under a minute
    python -m bench --soak 30   # with a 30-minute W4 soak
    python -m bench --only w1,w5

It starts its own Mosquitto on a free loopback port, the hub and the floor as subprocesses and the
load generator as a separate process, prints a table and appends one JSON line to
bench/results/<date>.jsonl (the line is printed too).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import micro, sysstats, workloads
from bench.processes import ROOT, BenchError, Broker
from bench.report import append_json, judge, table

ALL = ("micro", "w5", "w1", "w2", "w3", "w4", "clients")


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="The Hausmeister benchmark.")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="short steps and fewer messages (under a minute)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes, to check the benchmark itself works")
    parser.add_argument("--soak", type=float, metavar="MINUTES", help="run W4 for this many minutes")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated workloads (default: {','.join(ALL)})")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results", help="folder for the JSON lines")
    parser.add_argument(
        "--no-mirror", action="store_true", help="run the hub with mqtt.publish_states: false (not its default)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the hubs' folders (config, logs, history)")
    return parser.parse_args(argv)


def _mode(args: argparse.Namespace) -> tuple[str, workloads.Sizes]:
    if args.smoke:
        return "smoke", workloads.SMOKE
    if args.quick:
        return "quick", workloads.QUICK
    return "full", workloads.FULL


def _commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], check=False, cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "-uno"], check=False, cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() + ("+changes" if dirty.stdout.strip() else "") if done.returncode == 0 else "unknown"


def _mosquitto() -> str:
    done = subprocess.run(["mosquitto", "-h"], check=False, capture_output=True, text=True)
    first = (done.stdout or done.stderr).splitlines()
    return first[0].replace("mosquitto version", "Mosquitto").strip() if first else "Mosquitto"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the chosen workloads; a workload that fails is recorded with its error and the rest go on."""
    mode, sizes = _mode(args)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    results: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": sysstats.machine(),
        "python": platform.python_version(),
        "mosquitto": _mosquitto(),
        "mode": mode,
        "commit": _commit(),
        "scenario": {"sensors": sizes.scenario.sensors, "rules": sizes.scenario.rules},
        "hub_config": {"publish_states": not args.no_mirror},
    }
    folder = Path(tempfile.mkdtemp(prefix="hm-bench-"))
    try:
        with Broker() as broker:
            context = workloads.Run(broker, folder, sizes, mirror=not args.no_mirror)
            soak_seconds = args.soak * 60 if args.soak else None
            jobs: dict[str, Callable[[], dict[str, Any]]] = {
                "micro": lambda: micro.run(sizes.micro_events),
                "w5": lambda: workloads.startup(context),
                "w1": lambda: workloads.closed_loop(context),
                "w2": lambda: workloads.step_load(context),
                "w3": lambda: workloads.burst(context),
                "w4": lambda: workloads.soak(context, soak_seconds),
                "clients": lambda: workloads.clients(context),
            }
            for name in ALL:
                if name in chosen or (name == "w4" and args.soak):
                    print(f"running {name} …", file=sys.stderr, flush=True)
                    results[name] = _guarded(jobs[name])
    finally:
        if args.keep:
            print(f"hub folders kept in {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    results["targets"] = judge(results)
    return results


def _guarded(job: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return job()
    except BenchError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # a bug in one workload should not cost the others' figures
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}


def main(argv: list[str] | None = None) -> int:
    """Run, print the table and the JSON line, append the line; exit 1 if a workload failed."""
    args = parse(argv)
    results = run(args)
    print(table(results))
    path = append_json(results, args.results)
    print()
    print(json.dumps(results, separators=(",", ":")))
    print(f"(appended to {path})", file=sys.stderr)
    failed = [name for name in ALL if isinstance(results.get(name), dict) and "error" in results[name]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
