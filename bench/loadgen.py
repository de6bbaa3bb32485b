"""The load generator: a process of its own that publishes sensor readings and times the actions.

    python -m bench.loadgen '{"port": 1883, "mode": "steps", "rates": [100, 1000], "seconds": 3}'

It speaks MQTT with paho-mqtt, driven by `select` from this one thread (no paho thread, so no
lock hand-offs between sending and receiving). A reading that should fire a rule is remembered with
its send time until the action carrying its `seq` comes back; what has not come back when a phase
ends is lost. Progress and the result are JSON lines on stdout: `{"event": "ready"}` once
subscribed, one `{"event": "step", ...}` per load step, and `{"event": "result", ...}` last.

If `watch` names a process id (the hub or the floor), its CPU time and RSS are read from /proc at
the step boundaries and sampled during each phase.

Modes: `closed` (W1, one reading in flight), `steps` (W2, open-loop rates), `burst` (W3, QoS-1
readings as fast as the given second allows), `soak` (W4, one rate for a long time with periodic
samples), `probe` (W5, a reading every few milliseconds until the first action comes back).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import sysstats
from bench.link import Link, Watch, summary
from bench.scenario import Scenario

WARM_SEQ = 2_000_000_000  # seqs of warm-up readings, apart from measured ones
PROBE_SEQ = 3_000_000_000
MAX_BATCH = 256  # readings sent between two looks at the socket, so actions are read promptly


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout."""
    print(json.dumps({"event": event, **fields}), flush=True)


def warm_up(link: Link, scenario: Scenario, seconds: float = 30.0) -> float:
    """Wait until the system under test answers on every sensor with a rule; returns the seconds it took."""
    began = time.monotonic()
    deadline = began + seconds
    probe = PROBE_SEQ
    while not link.latencies:  # first: is anybody answering at all?
        if time.monotonic() > deadline:
            raise SystemExit("the system under test never answered a reading")
        link.pending.clear()
        link.publish(0, b'{"seq":%d,"value":99.5}' % probe, seq=probe)
        probe += 1
        link.pump(0.05)
        link.await_pending(0.05)
    missing = set(range(scenario.rules))
    while missing:
        if time.monotonic() > deadline:
            raise SystemExit(f"no answer from {len(missing)} of {scenario.rules} rules")
        for k in sorted(missing):
            link.publish(k, b'{"seq":%d,"value":99.5}' % (WARM_SEQ + k), seq=WARM_SEQ + k)
        link.await_pending(0.5)
        missing = {seq - WARM_SEQ for seq in link.pending}
    link.take()
    link.stray = 0  # late answers to the probes above are not the measured system's fault
    return time.monotonic() - began


def paced(
    link: Link,
    rate: float,
    count: int,
    send: Callable[[int], None],
    *,
    watch: Watch,
    tick: Callable[[float], None] | None = None,
) -> float:
    """Call `send(i)` for i in 0 … count-1 at `rate` per second (open loop); returns the seconds it took."""
    began = time.monotonic()
    sent = 0
    while sent < count:
        now = time.monotonic()
        due = min(count, int((now - began) * rate) + 1)
        batch = min(due - sent, MAX_BATCH)
        for _ in range(batch):
            send(sent)
            sent += 1
        watch.tick()
        if tick is not None:
            tick(now - began)
        wait = 0.0 if sent < due else (sent / rate) - (time.monotonic() - began)
        link.pump(min(max(wait, 0.0), 0.005))
    link.flush()
    return time.monotonic() - began


def _cost(before: sysstats.Sample | None, after: sysstats.Sample | None, messages: int) -> dict[str, Any]:
    if before is None or after is None:
        return {"cpu_s": None, "cpu_ms_per_1k": None, "rss_mb": None}
    cpu = after.cpu - before.cpu
    return {
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_1k": round(cpu / messages * 1_000_000, 2) if messages else None,
        "rss_mb": round(after.rss / 2**20, 1),
        "written_bytes": after.written - before.written,
    }


def run_closed(link: Link, scenario: Scenario, spec: dict[str, Any], watch: Watch) -> dict[str, Any]:
    """W1: one reading in flight at a time; every reading fires a rule."""
    count, deadline = int(spec["count"]), time.monotonic() + float(spec.get("max_seconds", 120))
    before = watch.now()
    done = 0
    lost = 0
    for n in range(count):
        if time.monotonic() > deadline:
            break
        sensor, payload = scenario.firing(n)
        link.publish(sensor, payload, seq=n)
        limit = time.monotonic() + 1.0
        while n in link.pending and time.monotonic() < limit:
            link.pump(limit - time.monotonic())
        if link.pending.pop(n, None) is not None:
            lost += 1
        done += 1
        watch.tick()
    latencies, _ = link.take()
    return {"sent": done, "lost": lost, **summary(latencies), **_cost(before, watch.now(), done)}


def run_step(
    link: Link, scenario: Scenario, rate: float, seconds: float, *, first: int, watch: Watch
) -> dict[str, Any]:
    """One open-loop step of the mixed load at `rate` readings per second."""
    count = max(1, round(rate * seconds))
    expected = 0

    def send(i: int) -> None:
        nonlocal expected
        n = first + i
        sensor, payload, fires = scenario.mixed(n)
        link.publish(sensor, payload, seq=n if fires else None)
        expected += fires

    watch.peak_rss = 0
    before = watch.now()
    took = paced(link, rate, count, send, watch=watch)
    link.await_pending(max(2.0, seconds))
    latencies, lost = link.take()
    watch.settle(5.0)
    result = {
        "rate": rate,
        "sent": count,
        "achieved_rate": round(count / took, 1),
        "expected": expected,
        "delivered": round(len(latencies) / expected, 4) if expected else None,
        "lost": lost,
        **summary(latencies),
        **_cost(before, watch.now(), count),
        "peak_rss_mb": round(watch.peak_rss / 2**20, 1) if watch.pid else None,
    }
    return result


def run_steps(link: Link, scenario: Scenario, spec: dict[str, Any], watch: Watch) -> dict[str, Any]:
    """W2: ascending open-loop steps; stops after the first step that loses actions or is too slow."""
    steps = []
    first = 0
    for rate in spec["rates"]:
        step = run_step(link, scenario, float(rate), float(spec["seconds"]), first=first, watch=watch)
        first += step["sent"]
        steps.append(step)
        emit("step", **step)
        ok = step["delivered"] == 1.0 and (step["p99_ms"] or 0) < float(spec.get("p99_limit_ms", 100))
        if not ok and spec.get("stop_after_failure", True):
            break
    return {"steps": steps}


def run_burst(link: Link, scenario: Scenario, spec: dict[str, Any], watch: Watch) -> dict[str, Any]:
    """W3: `count` QoS-1 readings within `seconds`, every one firing a rule; how long until all answered."""
    count, seconds = int(spec["count"]), float(spec.get("seconds", 1.0))
    watch.every = 0.02
    idle = watch.now()
    watch.peak_rss = idle.rss if idle else 0

    def send(n: int) -> None:
        sensor, payload = scenario.firing(n)
        link.publish(sensor, payload, qos=1, seq=n)

    began = time.monotonic()
    took = paced(link, count / seconds, count, send, watch=watch)
    deadline = time.monotonic() + float(spec.get("drain_limit", 60))
    while link.pending and time.monotonic() < deadline:
        link.pump(0.02)
        watch.tick()
    latencies, lost = link.take()
    drained = (link.last_arrival - began) if latencies else None
    watch.settle(10.0)
    time.sleep(float(spec.get("after_seconds", 3)))
    after = watch.now()
    return {
        "sent": count,
        "send_seconds": round(took, 3),
        "lost": lost,
        "drain_s": round(drained, 3) if drained is not None else None,
        **summary(latencies),
        "idle_rss_mb": round(idle.rss / 2**20, 1) if idle else None,
        "peak_rss_mb": round(watch.peak_rss / 2**20, 1) if watch.pid else None,
        "after_rss_mb": round(after.rss / 2**20, 1) if after else None,
        "cpu_ms_per_1k": _cost(idle, after, count)["cpu_ms_per_1k"],
    }


def run_soak(link: Link, scenario: Scenario, spec: dict[str, Any], watch: Watch) -> dict[str, Any]:
    """W4: the mixed load at one rate for a long time, with CPU/RSS/disk samples every `every` seconds."""
    rate, seconds, every = float(spec["rate"]), float(spec["seconds"]), float(spec.get("every", 10))
    samples: list[dict[str, Any]] = []
    expected = 0
    first = watch.now()

    def send(i: int) -> None:
        nonlocal expected
        sensor, payload, fires = scenario.mixed(i)
        link.publish(sensor, payload, seq=i if fires else None)
        expected += fires

    def tick(elapsed: float) -> None:
        if elapsed >= len(samples) * every:
            now = watch.now()
            if now is not None:
                samples.append({"t": round(elapsed, 2), "cpu": now.cpu, "rss": now.rss, "written": now.written})

    count = round(rate * seconds)
    took = paced(link, rate, count, send, watch=watch, tick=tick)
    link.await_pending(5.0)
    latencies, lost = link.take()
    last = watch.now()
    if last is not None:
        samples.append({"t": round(took, 2), "cpu": last.cpu, "rss": last.rss, "written": last.written})
    return {
        "rate": rate,
        "seconds": round(took, 2),
        "sent": count,
        "expected": expected,
        "lost": lost,
        **summary(latencies),
        **_cost(first, last, count),
        "samples": samples,
    }


def run_probe(link: Link, spec: dict[str, Any]) -> dict[str, Any]:
    """W5: after 'ready', a firing reading every `interval` s until one is answered; when it was."""
    interval, deadline = float(spec.get("interval", 0.002)), time.monotonic() + float(spec.get("max_seconds", 30))
    seq = PROBE_SEQ
    emit("ready")
    while not link.latencies and time.monotonic() < deadline:
        link.publish(0, b'{"seq":%d,"value":99.5}' % seq, seq=seq)
        seq += 1
        link.pump(interval)
    if not link.latencies:
        return {"answered_at": None}
    return {"answered_at": link.last_arrival, "probes": seq - PROBE_SEQ}


def main(argv: list[str]) -> int:
    """Run the spec given as one JSON argument; the result is the last line on stdout."""
    spec: dict[str, Any] = json.loads(argv[0])
    scenario = Scenario(int(spec.get("sensors", 200)), int(spec.get("rules", 100)))
    link = Link(spec.get("host", "127.0.0.1"), int(spec["port"]), spec.get("client_id", "bench-loadgen"))
    watch = Watch(spec.get("watch"))
    mode = spec["mode"]
    result: dict[str, Any]
    if mode == "probe":
        result = run_probe(link, spec)
    else:
        warm = warm_up(link, scenario) if spec.get("warm_up", True) else 0.0
        emit("ready", warm_up_s=round(warm, 3))
        runner = {"closed": run_closed, "steps": run_steps, "burst": run_burst, "soak": run_soak}[mode]
        result = runner(link, scenario, spec, watch)
    result["stray"] = link.stray
    link.close()
    emit("result", **result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
