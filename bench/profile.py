"""Profile the hub under load with py-spy: where does its CPU go?

    python -m bench.profile --rate 5000 --seconds 10 [--rules 100] [--out profile-dir]

Starts Mosquitto and the hub as the benchmark does, sends the mixed load (W2's) at one rate with
the load generator, and records the hub with `py-spy record` (install it with `pip install py-spy`).
Prints the functions with the most samples, by own time and including callees, and leaves the raw
stacks (and a flame graph SVG) in the output folder.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.features import missing
from bench.processes import Broker, Hub, Loadgen
from bench.scenario import Scenario

# Leaf frames of threads that wait: the event loop in epoll, the executor's and aiosqlite's idle
# workers. py-spy cannot always tell idle threads apart here, so they are left out by name. (SQL
# running in aiosqlite's thread also ends in its worker frame: it is counted apart, as "sqlite".)
IDLE = ("EpollSelector.select (selectors.py)", "_worker (concurrent/futures/thread.py)")
SQLITE = "_connection_worker_thread (aiosqlite/core.py)"


# A sample belongs to the innermost hub feature on its stack (what made the work happen); samples in
# no feature are the transport's: the socket flush, the router, paho, the event loop.
FEATURES = (
    ("(devices/mqtt/bridge.py)", "state mirror (JSON + publish)"),
    ("(rules/", "rule engine (incl. Jinja2)"),
    ("jinja2", "rule engine (incl. Jinja2)"),
    ("(hub/history", "history (event-loop side)"),
    ("(devices/mqtt/generic.py)", "generic MQTT driver"),
    ("(devices/payload.py)", "generic MQTT driver"),
    ("(devices/base.py)", "generic MQTT driver"),
    ("(hub/store.py)", "state store + bus"),
    ("(hub/bus.py)", "state store + bus"),
)


def _component(frames: list[str]) -> str:
    for frame in reversed(frames):
        for key, name in FEATURES:
            if key in frame:
                return name
    if any("_corked" in f for f in frames):
        return "kernel TCP send (the corked flush of all publishes)"
    if any("paho" in f for f in frames[-3:]):
        return "paho-mqtt (packet read and parse, write)"
    if any("(devices/mqtt/" in f for f in frames):
        return "router + connection dispatch"
    return "asyncio event loop and other"


def components(raw: Path) -> str:
    """The event-loop thread's busy samples by hub component (markdown table rows)."""
    shares: collections.Counter[str] = collections.Counter()
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = line.rpartition(" ")
        frames = stack.split(";")
        if stack and frames[-1] not in (*IDLE, SQLITE):
            shares[_component(frames)] += int(count_text)
    total = sum(shares.values()) or 1
    return "\n".join(f"| {name} | {n / total:.0%} |" for name, n in shares.most_common())


def summarise(raw: Path, seconds: float, rate: int, top: int = 25) -> str:
    """The busiest functions in py-spy's raw output (one 'frame;frame;… count' line per stack)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = idle = sqlite = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        if frames[-1] in IDLE:
            idle += count
            continue
        if frames[-1] == SQLITE:
            sqlite += count
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    busy = total - idle - sqlite
    if not busy:
        return "no busy samples (is the hub idle?)"
    lines = [
        f"{total} samples in {seconds:g} s at {rate}/s: event loop busy in {busy} ({busy / (seconds * rate):.0%} of "
        f"the time), waiting in {idle}, aiosqlite thread (idle or SQL) in {sqlite}; shares below are of the busy ones",
        "",
        "own time:",
    ]
    lines += [f"  {n / busy:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "including callees:"]
    lines += [f"  {n / busy:6.1%}  {frame}" for frame, n in inclusive.most_common(top * 2) if n < busy * 0.98][:top]
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--rate", type=float, default=5000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--sensors", type=int, default=200)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--sample-rate", type=int, default=200)
    parser.add_argument("--gil", action="store_true", help="only samples that hold the GIL (Python at work)")
    parser.add_argument("--no-mirror", action="store_true", help="mqtt.publish_states: false")
    parser.add_argument("--no-history", action="store_true", help="history.enabled: false")
    parser.add_argument("--no-spy", action="store_true", help="only measure the hub's CPU, do not profile")
    parser.add_argument(
        "--out", type=Path, help="folder for the hub's files and the stacks (default: a new temp folder)"
    )
    args = parser.parse_args(argv)
    args.out = args.out or Path(tempfile.mkdtemp(prefix="hm-profile-"))
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def _profile(args: argparse.Namespace) -> dict[str, Any]:
    """Run hub and load; record the hub with py-spy meanwhile (unless --no-spy); the load's result."""
    rules = args.rules if missing("rules") is None else 0
    scenario = Scenario(args.sensors, max(rules, 1))
    spec = {"mode": "soak", "rate": args.rate, "seconds": args.seconds + 2, "sensors": scenario.sensors}
    spec.update(rules=scenario.rules if rules else 0, warm_up=bool(rules))
    extra = "history:\n  enabled: false\n" if args.no_history else ""
    hub_files = args.out / "hub"
    with (
        Broker() as broker,
        Hub(hub_files, broker, sensors=args.sensors, rules=rules, extra=extra, mirror=not args.no_mirror) as hub,
    ):
        time.sleep(1.5)  # started (without rules there is no answer to wait for)
        with Loadgen(broker, {**spec, "watch": hub.pid}, timeout=args.seconds + 120) as gen:
            gen.wait_for("ready")
            time.sleep(1.0)
            if args.no_spy:
                time.sleep(args.seconds)
            else:
                spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
                record = [spy, "record", "-p", str(hub.pid), "-d", str(int(args.seconds))]
                record += ["-r", str(args.sample_rate), "-f", "raw", "--nolineno", "-o", str(args.out / "stacks.txt")]
                subprocess.run(record + (["--gil"] if args.gil else []), check=True, capture_output=True)
            return gen.result()


def main(argv: list[str] | None = None) -> int:
    """Run the hub under the mixed load and profile it."""
    args = _parse(argv)
    result = _profile(args)
    print(f"load: {result['sent']} readings at {args.rate:g}/s; hub CPU {result['cpu_ms_per_1k']} ms per 1 000")
    if not args.no_spy:
        print(summarise(args.out / "stacks.txt", args.seconds, args.sample_rate))
        print("\nevent-loop thread by component:\n" + components(args.out / "stacks.txt"))
        print(f"\nraw stacks in {args.out / 'stacks.txt'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
