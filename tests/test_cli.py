"""The `hausmeister` command as a user runs it: a real subprocess, a real broker, real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest

from tests.broker import Mosquitto, free_port
from tests.conftest import next_message, write

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def hausmeister(*args: str, cwd: Path = ROOT, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "hub", *args],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_version() -> None:
    result = hausmeister("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("hausmeister ")


def test_check_accepts_the_example_config() -> None:
    result = hausmeister("check", "-c", "config.example.yaml")
    assert result.returncode == 0, result.stderr
    assert "configuration is valid" in result.stdout


def test_check_reports_every_problem_and_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "mqtt:\n  prot: 1883\ndevices:\n  - type: mqtt\n    name: x\n    entities: []\n")
    result = hausmeister("check", "-c", str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "The configuration has 2 problems:",
        f"  {path}:2:3: unknown key 'prot' — did you mean 'port'?",
        f"  {path}:6:15: 'entities' needs at least 1 entry",
    ]


def test_check_of_a_missing_file_says_so(tmp_path: Path) -> None:
    result = hausmeister("check", "-c", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert f"{tmp_path / 'nope.yaml'}:1:1: the file does not exist" in result.stderr


def _config(tmp_path: Path, broker: Mosquitto, base: str) -> Path:
    return write(
        tmp_path / "config.yaml",
        f"""mqtt:
  host: {broker.host}
  port: {broker.port}
  client_id: {base}
  base_topic: {base}
  keepalive: 5
devices:
  - type: mqtt
    name: shed
    entities:
      - {{id: sensor.shed_temperature, state_topic: {base}/dev/temp}}
""",
    )


async def _status(broker: Mosquitto, base: str, client: aiomqtt.Client) -> bytes:
    return bytes((await next_message(client, f"{base}/status", timeout=15)).payload)  # type: ignore[arg-type]


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT"])
async def test_run_stops_cleanly_on_signal_and_says_offline(
    tmp_path: Path, mosquitto: Mosquitto, prefix: str, how: str
) -> None:
    base = f"{prefix}cli"
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as watcher:
        await watcher.subscribe(f"{base}/status")
        process = start("run", "-c", str(_config(tmp_path, mosquitto, base)), cwd=tmp_path)
        try:
            assert await _status(mosquitto, base, watcher) == b"online"
            await watcher.subscribe(f"{base}/state/sensor.shed_temperature")
            first = await next_message(watcher, f"{base}/state/sensor.shed_temperature")
            assert b'"state":null' in first.payload  # type: ignore[operator]  # known entity, no reading yet
            await watcher.publish(f"{base}/dev/temp", "19.5")
            mirrored = await next_message(watcher, f"{base}/state/sensor.shed_temperature")
            assert b'"state":19.5' in mirrored.payload  # type: ignore[operator]
            process.send_signal(getattr(signal, how))
            assert await _status(mosquitto, base, watcher) == b"offline"
            assert process.wait(timeout=10) == 0
        finally:
            process.kill()
            process.wait()
    stderr = process.stderr.read() if process.stderr else ""
    assert "Hausmeister stopped" in stderr


async def test_last_will_says_offline_when_the_process_is_killed(
    tmp_path: Path, mosquitto: Mosquitto, prefix: str
) -> None:
    base = f"{prefix}kill"
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as watcher:
        await watcher.subscribe(f"{base}/status")
        process = start("run", "-c", str(_config(tmp_path, mosquitto, base)), cwd=tmp_path)
        try:
            assert await _status(mosquitto, base, watcher) == b"online"
            process.send_signal(signal.SIGKILL)
            assert await _status(mosquitto, base, watcher) == b"offline"
        finally:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL


def test_run_with_a_broken_config_exits_1_with_the_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "devices:\n  - type: mqtt\n    name: x\n    entities:\n      - id: switch.x\n")
    result = hausmeister("run", "-c", str(path))
    assert result.returncode == 1
    assert f"{path}:5:9: a switch needs a command_topic" in result.stderr


def test_demo_says_clearly_when_the_broker_port_is_taken(tmp_path: Path, mosquitto: Mosquitto) -> None:
    result = hausmeister("demo", "--mqtt-port", str(mosquitto.port), cwd=tmp_path)
    assert result.returncode == 2
    assert f"Port {mosquitto.port} on 127.0.0.1 is already in use, probably by another MQTT broker" in result.stderr
    assert "Traceback" not in result.stderr


async def test_demo_runs_its_own_broker_and_simulated_devices(tmp_path: Path) -> None:
    port = free_port()
    process = start("demo", "--mqtt-port", str(port), "--data-dir", str(tmp_path / "demo-data"), cwd=tmp_path)
    try:
        for _ in range(100):
            try:
                async with aiomqtt.Client("127.0.0.1", port) as client:
                    await client.subscribe("hausmeister/state/switch.workshop_compressor")
                    # The simulated plug comes online: its entity turns available.
                    await next_message(
                        client,
                        "hausmeister/state/switch.workshop_compressor",
                        timeout=10,
                        containing=b'"available":true',
                    )
                    await client.subscribe("hausmeister/result/switch.workshop_compressor")
                    await client.publish("hausmeister/command/switch.workshop_compressor", '{"action": "turn_on"}')
                    # Generous: the demo starts six simulators and an amqtt broker on a busy 2-core CI machine.
                    result = await next_message(client, "hausmeister/result/switch.workshop_compressor", timeout=15)
                    assert b'"ok":true' in result.payload  # type: ignore[operator]
                break
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)  # the demo's broker is still starting
        else:
            raise AssertionError("the demo's broker never came up")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        process.kill()
        process.wait()
    stdout = process.stdout.read() if process.stdout else ""
    assert "Hausmeister demo is running." in stdout
    assert (tmp_path / "demo-data").is_dir()
