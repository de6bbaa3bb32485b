"""The benchmark runs end to end and reports well-formed results (no timing assertions: the
machine is shared). It runs `python -m bench --smoke` — real Mosquitto, real hub, floor and load
generator processes, tiny sizes — as a user would, and reads the JSON line it appends."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """One smoke run of the benchmark and the JSON line it wrote."""
    results = tmp_path_factory.mktemp("bench-results")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--results", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    files = list(results.glob("*.jsonl"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(files) == 1, done.stderr
    lines = files[0].read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    return done, json.loads(lines[0])


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


def test_every_workload_reports_hub_and_floor_figures(smoke: tuple[Any, dict[str, Any]]) -> None:
    _, result = smoke
    for key in ("date", "machine", "python", "mosquitto", "commit"):
        assert result[key]
    assert result["mode"] == "smoke"
    w1 = result["w1"]
    for who in ("hub", "floor"):
        assert w1[who]["lost"] == 0
        assert all(_positive(w1[who][k]) for k in ("p50_ms", "p99_ms", "p999_ms"))
    assert isinstance(w1["added_p99_ms"], float)
    for who in ("hub", "floor"):
        steps = result["w2"][who]["steps"]
        assert [s["rate"] for s in steps] == [100, 500]
        assert all(s["delivered"] == 1.0 and _positive(s["p99_ms"]) and _positive(s["rss_mb"]) for s in steps)
        assert result["w2"][who]["knee"] in (None, 100, 500)  # which one depends on the machine's load
        assert result["w3"][who]["lost"] == 0 and _positive(result["w3"][who]["drain_s"])
    assert result["w3"]["hub"]["recorded"] == result["w3"]["hub"]["sent"]
    soak = result["w4"]["hub"]
    assert soak["lost"] == 0 and _positive(soak["history_bytes_per_sample"]) and _positive(soak["rss_end_mb"])
    startup = result["w5"]["hub"]
    assert [row["entities"] for row in startup] == [0, 10]
    assert all(_positive(row["startup_s"]) and _positive(row["idle_rss_mb"]) for row in startup)
    assert _positive(result["w5"]["floor"]["startup_s"])
    assert _positive(result["micro"]["bus_events_per_s"]) and _positive(result["micro"]["rules_events_per_s"])
    assert set(result["clients"]) == {"paho-loop", "hub-adapter", "aiomqtt", "gmqtt"}
    for name, client in result["clients"].items():
        # CPU is read in 10 ms ticks: a smoke-sized step may cost none of them
        assert "not_available" in client or client["steps"][0]["cpu_ms_per_1k"] >= 0, name


def test_targets_are_judged_and_the_table_shows_them(smoke: tuple[Any, dict[str, Any]]) -> None:
    done, result = smoke
    names = [t["target"] for t in result["targets"]]
    assert len(names) == 9
    assert all(t["met"] in (True, False, None) for t in result["targets"])
    assert "Targets" in done.stdout and "W1 closed loop" in done.stdout and "floor" in done.stdout
    # the JSON line is printed as well as appended
    assert json.loads(done.stdout.strip().splitlines()[-1])["commit"] == result["commit"]
