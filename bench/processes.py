"""The processes of a benchmark run: Mosquitto, the hub, the floor and the load generator.

Each is a context manager that starts its process and always stops it. Children also get
`PR_SET_PDEATHSIG`, so if the benchmark itself is killed they receive SIGTERM instead of lingering;
the floor and the load generator also stop by themselves after a time limit. Mosquitto is the test
suite's own `tests.broker.Mosquitto` (loopback, free port, `set_tcp_nodelay true`).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Self

from bench.scenario import hub_config, rules_yaml
from tests.broker import Mosquitto

ROOT = Path(__file__).resolve().parent.parent
_PR_SET_PDEATHSIG = 1


class BenchError(Exception):
    """A process of the benchmark did not do its part; the message says which and why."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    args: list[str], *, stdout: IO[Any] | int | None = None, stderr: IO[Any] | int | None = None
) -> subprocess.Popen[str]:
    """Start a Python module of this repository as a child that dies with us."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=stdout,
        stderr=stderr,
        text=True,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, safe before exec
    )


def stop(process: subprocess.Popen[str], grace: float = 15.0) -> int | None:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL; returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class Broker:
    """A Mosquitto on a free loopback port for the duration of the run."""

    def __init__(self) -> None:
        self.mosquitto = Mosquitto()
        self.host = self.mosquitto.host
        self.port = self.mosquitto.port

    def __enter__(self) -> Self:
        self.mosquitto.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.mosquitto.stop()


class Hub:
    """`python -m hub run` with a generated configuration (sensors, rules) in its own folder."""

    def __init__(
        self, folder: Path, broker: Broker, *, sensors: int, rules: int, extra: str = "", mirror: bool = True
    ) -> None:
        self.folder = folder
        self.data_dir = folder / "data"
        self.rules_dir = folder / "rules"
        self.config = folder / "config.yaml"
        self.log = folder / "hub.log"
        folder.mkdir(parents=True, exist_ok=True)
        self.rules_dir.mkdir(exist_ok=True)
        if rules:
            (self.rules_dir / "bench.yaml").write_text(rules_yaml(rules), encoding="utf-8")
        text = hub_config(
            broker.host, broker.port, self.data_dir, self.rules_dir, sensors=sensors, extra=extra, mirror=mirror
        )
        self.config.write_text(text, encoding="utf-8")
        self.process: subprocess.Popen[str] | None = None
        self.started_at = 0.0
        self.exit_code: int | None = None

    @property
    def pid(self) -> int:
        """The hub's process id."""
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        """Exec the hub (and note when, on the monotonic clock the load generator shares)."""
        with self.log.open("a", encoding="utf-8") as log:
            self.started_at = time.monotonic()
            self.process = spawn(["-m", "hub", "run", "-c", str(self.config)], stderr=log, stdout=log)

    def check_alive(self) -> None:
        """Raise with the end of the hub's log if it has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise BenchError(f"the hub exited with {self.process.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the hub logged."""
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            self.exit_code = stop(self.process)


class Floor:
    """The paho echo client (bench/floor.py), or with `client` one of bench/clients.py's echoes,
    waited for until it has subscribed."""

    def __init__(self, broker: Broker, client: str | None = None) -> None:
        self.broker = broker
        self.module = ["-m", "bench.floor"] if client is None else ["-m", "bench.clients", "--client", client]
        self.process: subprocess.Popen[str] | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int:
        """The floor's process id."""
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> Self:
        self.started_at = time.monotonic()
        self.process = spawn(
            [*self.module, "--port", str(self.broker.port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise BenchError(f"the floor did not start: {self.process.stderr.read() if self.process.stderr else ''}")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            stop(self.process, 5.0)


class Loadgen:
    """One run of the load generator (bench/loadgen.py) with a JSON spec; its events as dicts."""

    def __init__(self, broker: Broker, spec: dict[str, Any], timeout: float) -> None:
        self.spec = {"host": broker.host, "port": broker.port, **spec}
        self.timeout = timeout
        self.steps: list[dict[str, Any]] = []
        self.process: subprocess.Popen[str] | None = None
        self._watchdog: threading.Timer | None = None

    def __enter__(self) -> Self:
        self.process = spawn(
            ["-m", "bench.loadgen", json.dumps(self.spec)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        # Reading its output blocks; a generator that overruns is killed, which ends the read.
        self._watchdog = threading.Timer(self.timeout, self.process.kill)
        self._watchdog.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.process is not None:
            stop(self.process, 2.0)

    def next_event(self) -> dict[str, Any]:
        """The next JSON line the generator prints (raises if it exits or overruns its time)."""
        assert self.process is not None and self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            error = self.process.stderr.read().strip() if self.process.stderr else ""
            raise BenchError(
                f"the load generator stopped ({self.process.returncode}): {error or 'killed after its time limit'}"
            )
        event: dict[str, Any] = json.loads(line)
        return event

    def wait_for(self, name: str) -> dict[str, Any]:
        """Read events until one called `name`; 'step' events are kept in `steps`."""
        while True:
            event = self.next_event()
            if event["event"] == "step":
                self.steps.append(event)
            if event["event"] == name:
                return event

    def result(self) -> dict[str, Any]:
        """The final result (without the 'event' key)."""
        result = self.wait_for("result")
        del result["event"]
        return result


def run_loadgen(broker: Broker, spec: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """Run the load generator to the end and return its result."""
    with Loadgen(broker, spec, timeout) as gen:
        return gen.result()
