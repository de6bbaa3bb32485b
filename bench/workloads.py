"""The workloads W1–W5: each runs against the floor and against the hub in the same run.

Every workload returns a plain dict (it goes into the JSON line as it is). A workload that cannot
be measured because a part of the hub is missing returns `{"not_available": "<reason>"}` instead
of a number, and the table says so.
"""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import sysstats
from bench.features import missing
from bench.processes import BenchError, Broker, Floor, Hub, Loadgen, run_loadgen
from bench.scenario import Scenario

MB = 2**20


@dataclass(frozen=True)
class Sizes:
    """How much of each workload a mode runs."""

    closed_count: int = 5000
    rates: tuple[int, ...] = (100, 500, 1000, 2000, 5000, 7500, 10_000, 15_000, 20_000, 30_000, 40_000)
    step_seconds: float = 5.0
    burst_count: int = 10_000
    burst_after: float = 3.0
    soak_seconds: float = 60.0
    soak_rate: float = 1000.0
    startup_entities: tuple[int, ...] = (0, 100, 1000)
    startup_repeats: int = 3
    idle_wait: float = 3.0
    micro_events: int = 200_000
    client_rates: tuple[int, ...] = (2000, 6000)
    client_seconds: float = 4.0
    scenario: Scenario = field(default_factory=Scenario)


FULL = Sizes()
QUICK = Sizes(
    closed_count=1000,
    rates=(100, 1000, 5000, 10_000, 20_000),
    step_seconds=1.5,
    burst_after=1.0,
    soak_seconds=8.0,
    startup_repeats=1,
    idle_wait=1.0,
    micro_events=50_000,
    client_seconds=1.5,
)
SMOKE = Sizes(
    closed_count=100,
    rates=(100, 500),
    step_seconds=0.5,
    burst_count=300,
    burst_after=0.2,
    soak_seconds=2.0,
    soak_rate=200.0,
    startup_entities=(0, 10),
    startup_repeats=1,
    idle_wait=0.2,
    micro_events=2000,
    client_rates=(200,),
    client_seconds=0.5,
    scenario=Scenario(sensors=20, rules=10),
)


@dataclass
class Run:
    """What every workload needs: the broker, a folder for hub files, the sizes."""

    broker: Broker
    folder: Path
    sizes: Sizes
    mirror: bool = True  # the hub's default: every state change published on <base>/state/<entity>
    _hubs: int = 0

    @contextlib.contextmanager
    def hub(self, *, sensors: int | None = None, rules: int | None = None) -> Iterator[Hub]:
        """A fresh hub process with the scenario's sensors and rules (or the given counts)."""
        scenario = self.sizes.scenario
        self._hubs += 1
        hub = Hub(
            self.folder / f"hub{self._hubs}",
            self.broker,
            sensors=scenario.sensors if sensors is None else sensors,
            rules=scenario.rules if rules is None else rules,
            mirror=self.mirror,
        )
        with hub:
            try:
                yield hub
            except BenchError as exc:
                raise BenchError(f"{exc}\n--- the hub's log ---\n{hub.log_tail()}") from None

    def spec(self, mode: str, watch: int, **fields: Any) -> dict[str, Any]:
        """A load generator spec for this run's scenario."""
        scenario = self.sizes.scenario
        return {"mode": mode, "watch": watch, "sensors": scenario.sensors, "rules": scenario.rules, **fields}


def _unavailable(*parts: str) -> dict[str, Any] | None:
    """`{"not_available": reasons}` if a part the hub needs for a workload is missing, else None."""
    reasons = [reason for part in parts if (reason := missing(part))]
    return {"not_available": "; ".join(reasons)} if reasons else None


# --- W1 ------------------------------------------------------------------------------------------
def closed_loop(run: Run) -> dict[str, Any]:
    """W1: one reading in flight; latency from publish to action, hub beside the floor."""
    count = run.sizes.closed_count
    with Floor(run.broker) as floor:
        floor_result = run_loadgen(run.broker, run.spec("closed", floor.pid, count=count))
    if gap := _unavailable("rules"):
        return {"floor": floor_result, "hub": gap}
    with run.hub() as hub:
        hub_result = run_loadgen(run.broker, run.spec("closed", hub.pid, count=count))
    added = {f"added_{q}_ms": _minus(hub_result[f"{q}_ms"], floor_result[f"{q}_ms"]) for q in ("p50", "p99", "p999")}
    return {"floor": floor_result, "hub": hub_result, **added}


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


# --- W2 ------------------------------------------------------------------------------------------
def step_load(run: Run) -> dict[str, Any]:
    """W2: open-loop steps of the mixed load; per step delivery, latency, CPU and RSS; the knee."""
    sizes = run.sizes
    spec = {"rates": list(sizes.rates), "seconds": sizes.step_seconds}
    with Floor(run.broker) as floor:
        floor_result = run_loadgen(run.broker, run.spec("steps", floor.pid, **spec))
    floor_result["knee"] = knee(floor_result["steps"])
    hub_result = _unavailable("rules")
    if hub_result is None:
        with run.hub() as hub:
            hub_result = run_loadgen(run.broker, run.spec("steps", hub.pid, **spec))
        hub_result["knee"] = knee(hub_result["steps"])
    return {
        "floor": floor_result,
        "hub": hub_result,
        "history": missing("history") is None,
        "fire_fraction": sizes.scenario.fire_fraction,
    }


def knee(steps: list[dict[str, Any]], p99_limit_ms: float = 100.0) -> float | None:
    """The highest rate (in the ascending run) where every action arrived and p99 stayed under the limit."""
    best = None
    for step in steps:
        if step["delivered"] != 1.0 or (step["p99_ms"] or 0) >= p99_limit_ms:
            break
        if step["achieved_rate"] >= 0.95 * step["rate"]:
            best = step["rate"]
    return best


# --- W3 ------------------------------------------------------------------------------------------
def burst(run: Run) -> dict[str, Any]:
    """W3: 10 000 QoS-1 readings within one second, each firing a rule: losses, drain time, memory."""
    spec = {"count": run.sizes.burst_count, "seconds": 1.0, "after_seconds": run.sizes.burst_after}
    with Floor(run.broker) as floor:
        floor_result = run_loadgen(run.broker, run.spec("burst", floor.pid, **spec))
    if gap := _unavailable("rules"):
        return {"floor": floor_result, "hub": gap}
    with run.hub() as hub:
        hub_result = run_loadgen(run.broker, run.spec("burst", hub.pid, **spec))
    # Warm-up and probe readings carry the value 99.5; the burst's values are 51.5 … 90.5.
    recorded = _recorded(hub, "value < 99")
    if recorded is not None:
        hub_result["recorded"] = recorded
    return {"floor": floor_result, "hub": hub_result}


def _recorded(hub: Hub, where: str = "1") -> int | None:
    """Numeric history rows (matching `where`) written by a hub that has stopped (None without history)."""
    path = hub.data_dir / "history.db"
    if hub.exit_code is None or not path.exists():
        return None
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return int(db.execute(f"SELECT count(*) FROM samples WHERE {where}").fetchone()[0])


# --- W4 ------------------------------------------------------------------------------------------
def soak(run: Run, seconds: float | None = None) -> dict[str, Any]:
    """W4: the mixed load for a long time: RSS slope, history bytes per sample, disk writes per hour."""
    if gap := _unavailable("rules", "history"):
        return {"hub": gap}
    sizes = run.sizes
    seconds = seconds or sizes.soak_seconds
    spec = {"rate": sizes.soak_rate, "seconds": seconds, "every": max(1.0, seconds / 30)}
    with run.hub() as hub:
        result = run_loadgen(run.broker, run.spec("soak", hub.pid, **spec), timeout=seconds + 120)
    samples = result.pop("samples")
    # The first third is the hub warming up (caches, allocator arenas): the slope is taken after it.
    settled = samples[len(samples) // 3 :]
    result["rss_slope_mb_per_h"] = _slope([(s["t"], s["rss"] / MB) for s in settled]) * 3600
    result["rss_start_mb"], result["rss_end_mb"] = samples[0]["rss"] / MB, samples[-1]["rss"] / MB
    written = samples[-1]["written"] - samples[0]["written"]
    result["written_mb_per_h"] = written / max(result["seconds"], 1e-9) * 3600 / MB
    result["written_bytes_per_reading"] = written / result["sent"]
    result.update(_history_size(hub))
    return {"hub": result}


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x (0 with fewer than two points)."""
    if len(points) < 2:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def _history_size(hub: Hub) -> dict[str, Any]:
    recorded = _recorded(hub)
    files = [hub.data_dir / name for name in ("history.db", "history.db-wal")]
    size = sum(f.stat().st_size for f in files if f.exists())
    return {
        "recorded": recorded,
        "history_bytes": size,
        "history_bytes_per_sample": size / recorded if recorded else None,
    }


# --- W5 ------------------------------------------------------------------------------------------
def startup(run: Run) -> dict[str, Any]:
    """W5: exec to the first action handled with 0, 100, 1000 entities; idle RSS after start."""
    sizes = run.sizes
    floor_runs = [_start_floor_once(run) for _ in range(sizes.startup_repeats)]
    floor_row = {
        "startup_s": statistics.median(r[0] for r in floor_runs),
        "idle_rss_mb": statistics.median(r[1] for r in floor_runs),
    }
    result: dict[str, Any] = {"floor": floor_row, "web_panel": missing("web") is None}
    if gap := _unavailable("rules"):
        return {**result, "hub": gap}
    hub_rows = []
    for entities in sizes.startup_entities:
        runs = [_start_hub_once(run, entities) for _ in range(sizes.startup_repeats)]
        hub_rows.append(
            {
                "entities": entities,
                "startup_s": statistics.median(r[0] for r in runs),
                "idle_rss_mb": statistics.median(r[1] for r in runs),
            }
        )
    return {**result, "hub": hub_rows}


def _start_hub_once(run: Run, entities: int) -> tuple[float, float]:
    with Loadgen(run.broker, run.spec("probe", 0), timeout=60) as probe:
        probe.wait_for("ready")
        with run.hub(sensors=entities, rules=1) as hub:
            answered = probe.result()["answered_at"]
            if answered is None:
                raise BenchError(f"the hub with {entities} entities never answered the probe")
            time.sleep(run.sizes.idle_wait)
            rss = (sysstats.rss_bytes(hub.pid) or 0) / MB
            return answered - hub.started_at, rss


def _start_floor_once(run: Run) -> tuple[float, float]:
    with Loadgen(run.broker, run.spec("probe", 0), timeout=60) as probe:
        probe.wait_for("ready")
        with Floor(run.broker) as floor:
            answered = probe.result()["answered_at"]
            if answered is None:
                raise BenchError("the floor never answered the probe")
            time.sleep(run.sizes.idle_wait)
            rss = (sysstats.rss_bytes(floor.pid) or 0) / MB
            return answered - floor.started_at, rss


# --- MQTT client libraries -----------------------------------------------------------------------
def clients(run: Run) -> dict[str, Any]:
    """Each client library doing the hub's I/O (1 in, ~1.1 out) at the same rates: CPU per reading."""
    from bench.clients import CLIENTS, available

    sizes = run.sizes
    spec = {"rates": list(sizes.client_rates), "seconds": sizes.client_seconds, "stop_after_failure": False}
    result: dict[str, Any] = {}
    for name in CLIENTS:
        if reason := available(name):
            result[name] = {"not_available": reason}
            continue
        with Floor(run.broker, name) as echo:
            result[name] = run_loadgen(run.broker, run.spec("steps", echo.pid, **spec))
    return result
