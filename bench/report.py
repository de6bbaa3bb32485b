"""The result of a run: targets judged, a table with the hub beside the floor, one JSON line.

The table is for people; the JSON line (appended to `bench/results/<date>.jsonl`) is for comparing
runs. Both come from the same `results` dict the workloads filled in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Results = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """One promise of the issue: a figure, a limit, and which way is good."""

    name: str
    unit: str
    limit: float
    at_most: bool  # True: the figure must be ≤ limit; False: ≥ limit
    figure: Callable[[Results], float | None]
    note: Callable[[Results], str] = lambda _r: ""


def _get(results: Results, *path: str | int) -> Any:
    value: Any = results
    for key in path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _step(results: Results, who: str, rate: float) -> dict[str, Any] | None:
    for step in _get(results, "w2", who, "steps") or []:
        if step["rate"] == rate:
            return dict(step)
    return None


def _p99_at_1000(results: Results) -> float | None:
    # W4 runs the same mixed load at 1 000 msg/s with history on, 12× longer than W2's step: its p99
    # rests on 6 000 actions instead of 500, so one pause of the machine cannot decide it alone.
    soak = _get(results, "w4", "hub")
    if soak and soak.get("rate") == 1000 and soak.get("p99_ms") is not None:
        return float(soak["p99_ms"])
    return (_step(results, "hub", 1000) or {}).get("p99_ms")


def _startup(results: Results, entities: int, key: str) -> float | None:
    rows = _get(results, "w5", "hub")
    for row in rows if isinstance(rows, list) else []:
        if row["entities"] == entities:
            return float(row[key])
    return None


def _hub_knee(results: Results) -> float | None:
    if _get(results, "w2", "hub", "steps") is None:
        return None  # not run
    return float(_get(results, "w2", "hub", "knee") or 0.0)


def _knee_ratio(results: Results) -> float | None:
    hub, floor = _hub_knee(results), _get(results, "w2", "floor", "knee")
    return None if hub is None or not floor else hub / floor


def _burst_lost(results: Results) -> float | None:
    hub = _get(results, "w3", "hub")
    if not hub or "lost" not in hub:
        return None
    unrecorded = max(0, hub["sent"] - hub["recorded"]) if "recorded" in hub else 0
    return float(hub["lost"] + unrecorded)


def _short_steps(results: Results) -> str:
    if results.get("mode") == "full":
        return ""
    return f"{results.get('mode')} run: its short steps end before a backlog shows, so the knee is optimistic"


def _no_web(results: Results) -> str:
    return "" if _get(results, "w5", "web_panel") else "web panel not part of the hub yet"


TARGETS = (
    Target("W1 added p99 latency over the floor", "ms", 1.0, True, lambda r: _get(r, "w1", "added_p99_ms")),
    Target("W4 (else W2) p99 at 1 000 msg/s, history on", "ms", 5.0, True, _p99_at_1000),
    Target("W2 knee, history on", "msg/s", 10_000, False, _hub_knee, _short_steps),
    Target("W2 knee ÷ floor's knee", "×", 0.5, False, _knee_ratio, _short_steps),
    Target("W3 burst: readings or actions lost", "", 0, True, _burst_lost),
    Target(
        "W4 history on disk per raw sample", "B", 40, True, lambda r: _get(r, "w4", "hub", "history_bytes_per_sample")
    ),
    Target("W5 start-up to first action, 100 entities", "s", 1.0, True, lambda r: _startup(r, 100, "startup_s")),
    Target("W5 idle RSS after start, 100 entities", "MB", 60, True, lambda r: _startup(r, 100, "idle_rss_mb"), _no_web),
    Target(
        "Bus → rule engine, 100 rules", "events/s", 200_000, False, lambda r: _get(r, "micro", "rules_events_per_s")
    ),
)


def judge(results: Results) -> list[dict[str, Any]]:
    """Every target with its measured figure and whether it was met (None: not measured)."""
    verdicts = []
    for target in TARGETS:
        value = target.figure(results)
        met = None if value is None else (value <= target.limit if target.at_most else value >= target.limit)
        verdicts.append(
            {
                "target": target.name,
                "value": value,
                "limit": ("≤ " if target.at_most else "≥ ")
                + _num(target.limit)
                + (f" {target.unit}" if target.unit else ""),
                "met": met,
                "note": target.note(results),
            }
        )
    return verdicts


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 100):
        return f"{int(value):,}".replace(",", " ")
    if abs(value) >= 100:
        return f"{value:,.0f}".replace(",", " ")
    return f"{value:.{digits}g}"


def _ms(value: Any) -> str:
    return "–" if value is None else f"{value:.3g} ms"


# --- the table -----------------------------------------------------------------------------------
def _rows_w1(results: Results) -> Iterator[tuple[str, str, str]]:
    w1 = results.get("w1") or {}
    for q, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
        yield f"{label} latency", _ms(_get(w1, "hub", f"{q}_ms")), _ms(_get(w1, "floor", f"{q}_ms"))
    yield "added p99 (hub − floor)", _ms(w1.get("added_p99_ms")), ""
    yield "lost", _num(_get(w1, "hub", "lost")), _num(_get(w1, "floor", "lost"))
    yield "CPU per 1 000 msgs", _ms(_get(w1, "hub", "cpu_ms_per_1k")), _ms(_get(w1, "floor", "cpu_ms_per_1k"))


def _rows_w2(results: Results) -> Iterator[tuple[str, str, str]]:
    w2 = results.get("w2") or {}
    hub_steps = {s["rate"]: s for s in _get(w2, "hub", "steps") or []}
    floor_steps = {s["rate"]: s for s in _get(w2, "floor", "steps") or []}
    for rate in sorted(set(hub_steps) | set(floor_steps)):
        yield f"{_num(rate)}/s", _step_text(hub_steps.get(rate)), _step_text(floor_steps.get(rate))
    yield (
        "knee (all actions, p99 < 100 ms)",
        _num(_get(w2, "hub", "knee")) + " msg/s",
        _num(_get(w2, "floor", "knee")) + " msg/s",
    )


def _step_text(step: dict[str, Any] | None) -> str:
    if step is None:
        return "(not run)"
    return (
        f"{step['delivered'] * 100:.1f}% p50 {_ms(step['p50_ms'])} p99 {_ms(step['p99_ms'])} "
        f"cpu {_num(step['cpu_ms_per_1k'])} ms/1k rss {_num(step['rss_mb'])} MB"
        + ("" if step["achieved_rate"] >= 0.95 * step["rate"] else f" (sent only {_num(step['achieved_rate'])}/s)")
    )


def _rows_w3(results: Results) -> Iterator[tuple[str, str, str]]:
    w3 = results.get("w3") or {}
    hub, floor = w3.get("hub") or {}, w3.get("floor") or {}
    yield "actions lost", _num(hub.get("lost")), _num(floor.get("lost"))
    if "recorded" in hub:
        yield "readings recorded in history", f"{_num(hub['recorded'])} of {_num(hub['sent'])}", ""
    yield "time to drain", _s(hub.get("drain_s")), _s(floor.get("drain_s"))
    yield "p99 latency", _ms(hub.get("p99_ms")), _ms(floor.get("p99_ms"))
    for key, label in (("idle_rss_mb", "RSS before"), ("peak_rss_mb", "RSS peak"), ("after_rss_mb", "RSS after")):
        yield label, _mb(hub.get(key)), _mb(floor.get(key))


def _s(value: Any) -> str:
    return "–" if value is None else f"{value:.3g} s"


def _mb(value: Any) -> str:
    return "–" if value is None else f"{value:.1f} MB"


def _rows_w4(results: Results) -> Iterator[tuple[str, str, str]]:
    hub = _get(results, "w4", "hub") or {}
    yield "load", f"{_num(hub.get('rate'))} msg/s for {_s(hub.get('seconds'))}", ""
    yield "actions lost", _num(hub.get("lost")), ""
    yield (
        "p50 / p99 / p99.9 latency",
        f"{_ms(hub.get('p50_ms'))} / {_ms(hub.get('p99_ms'))} / {_ms(hub.get('p999_ms'))}",
        "",
    )
    yield "RSS start → end", f"{_mb(hub.get('rss_start_mb'))} → {_mb(hub.get('rss_end_mb'))}", ""
    yield "RSS slope", f"{_num(hub.get('rss_slope_mb_per_h'))} MB/h", ""
    yield "history per raw sample", f"{_num(hub.get('history_bytes_per_sample'))} B", ""
    yield "disk writes", f"{_num(hub.get('written_mb_per_h'))} MB/h", ""
    yield "disk writes per reading", f"{_num(hub.get('written_bytes_per_reading'))} B", ""


def _rows_w5(results: Results) -> Iterator[tuple[str, str, str]]:
    w5 = results.get("w5") or {}
    floor = w5.get("floor") or {}
    rows = w5.get("hub")
    if not isinstance(rows, list):
        yield "start-up", "–", _s(floor.get("startup_s"))
        yield "idle RSS", "–", _mb(floor.get("idle_rss_mb"))
        return
    for row in rows:
        yield f"start-up, {row['entities']} entities", _s(row["startup_s"]), _s(floor.get("startup_s"))
        yield f"idle RSS, {row['entities']} entities", _mb(row["idle_rss_mb"]), _mb(floor.get("idle_rss_mb"))


def _rows_micro(results: Results) -> Iterator[tuple[str, str, str]]:
    micro = results.get("micro") or {}
    yield "store → bus → listener", f"{_num(micro.get('bus_events_per_s'))} events/s", ""
    rules = micro.get("rules_events_per_s")
    text = f"{_num(rules)} events/s" if rules else f"not available: {micro.get('rules_not_available')}"
    yield "store → bus → rule engine (100 rules)", text, ""


def _rows_clients(results: Results) -> Iterator[tuple[str, str, str]]:
    for name, result in (results.get("clients") or {}).items():
        if "steps" not in result:
            yield name, f"not available: {result.get('not_available') or result.get('error')}", ""
            continue
        text = "; ".join(
            f"{_num(s['rate'])}/s: cpu {_num(s['cpu_ms_per_1k'])} ms/1k, p99 {_ms(s['p99_ms'])}"
            + ("" if s["delivered"] == 1.0 else f", {s['delivered'] * 100:.1f}% delivered")
            for s in result["steps"]
        )
        yield name, text, ""


_SECTIONS = (
    ("w1", "W1 closed loop", _rows_w1),
    ("w2", "W2 step load (hub: delivered, latency, CPU, RSS)", _rows_w2),
    ("w3", "W3 burst", _rows_w3),
    ("w4", "W4 soak", _rows_w4),
    ("w5", "W5 start-up", _rows_w5),
    ("micro", "Bus / rule engine micro-benchmark", _rows_micro),
    ("clients", "MQTT client libraries doing the hub's I/O (1 reading in, ~1.1 out), same load", _rows_clients),
)


def table(results: Results) -> str:
    """The printed table: each figure for the hub beside the floor's, then the targets."""
    lines = [
        f"Hausmeister benchmark — {results['date']} — {results['machine']} — Python {results['python']}"
        f" — {results['mosquitto']} — {results['mode']} run, commit {results['commit']}"
        + ("" if results["hub_config"]["publish_states"] else " — hub with mqtt.publish_states: false"),
        "",
    ]
    for key, title, rows in _SECTIONS:
        section = results.get(key)
        if section is None:
            continue
        lines.append(title)
        if "error" in section:
            lines.append(f"  failed: {section['error']}")
        elif "not_available" in section:
            lines.append(f"  not available: {section['not_available']}")
        else:
            if isinstance(section.get("hub"), dict) and "not_available" in section["hub"]:
                lines.append(f"  hub not available: {section['hub']['not_available']}")
                if "floor" not in section:
                    lines.append("")
                    continue
            lines.append(f"  {'':38} {'hub':<62} floor")
            lines += [f"  {name:<38} {hub:<62} {floor}" for name, hub, floor in rows(results)]
        lines.append("")
    lines.append("Targets")
    for verdict in results["targets"]:
        met = {True: "met", False: "MISSED", None: "not measured"}[verdict["met"]]
        note = f" ({verdict['note']})" if verdict["note"] else ""
        lines.append(f"  {verdict['target']:<46} {_num(verdict['value']):>10}  {verdict['limit']:<18} {met}{note}")
    return "\n".join(lines)


def append_json(results: Results, folder: Path) -> Path:
    """Append the run as one JSON line to `<folder>/<date>.jsonl`; returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{results['date'][:10]}.jsonl"
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(results, separators=(",", ":")) + "\n")
    return path
