"""An OpenMower robot on a real broker, as xbot_monitoring shows it: `robot_state/json` out, `action` in.

It mows from its dock, drains its battery while it mows, goes home when the battery runs low (or
when told), charges in the dock, pauses and continues, and stops with an emergency when asked
(`set_emergency`): then it reports `emergency: true` and, as newer mower_logic does, pauses the
mowing behaviour. Actions that do not apply to the present behaviour are ignored, like the real
mower_logic does. Time comes from the injected clock: the state is updated and published every
`tick` seconds, and at once after every action.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from typing import Any

import aiomqtt

from devices.sim.client import SimClient
from hub.clock import Clock, SystemClock


class OpenMowerSim:
    """A simulated robot mower; `received` lists the actions it got."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        clock: Clock | None = None,
        prefix: str = "",
        tick: float = 1.0,
        battery: float = 1.0,
        drain_per_hour: float = 0.6,
        charge_per_hour: float = 1.0,
        low_battery: float = 0.2,
        undock_seconds: float = 10.0,
        dock_seconds: float = 30.0,
    ) -> None:
        self.host, self.port, self.prefix = host, port, prefix
        self.clock = clock or SystemClock()
        self.tick = tick
        self.battery = battery
        self.drain = drain_per_hour / 3600
        self.charge = charge_per_hour / 3600
        self.low_battery = low_battery
        self.undock_seconds = undock_seconds
        self.dock_seconds = dock_seconds
        self.state = "IDLE"
        self.sub_state = ""
        self.emergency = False
        self.rain = False
        self.received: list[str] = []
        self.ready = asyncio.Event()
        self._entered = self.clock.time()
        self._x = self._y = 0.0
        self._client: aiomqtt.Client | None = None

    def report(self) -> dict[str, Any]:
        """The `robot_state/json` object for now (fields as xbot_monitoring writes them)."""
        docked = self.state == "IDLE"
        return {
            "battery_percentage": round(self.battery, 4),
            "gps_percentage": 0.0 if docked else 0.97,
            "current_action_progress": 0.0,
            "current_state": self.state,
            "current_sub_state": self.sub_state,
            "current_area": 0 if self.state in ("MOWING", "PAUSED") else -1,
            "current_path": 0,
            "current_path_index": 0,
            "emergency": self.emergency,
            "is_charging": docked and self.battery < 1.0,
            "rain_detected": self.rain,
            "pose": {"x": round(self._x, 3), "y": round(self._y, 3), "heading": 0.0, "pos_accuracy": 0.02,
                     "heading_accuracy": 0.05, "heading_valid": 1},
        }  # fmt: skip

    async def run(self) -> None:
        """Connect, take actions and report until cancelled."""
        async with SimClient(self.host, self.port, identifier=f"xbot_monitoring-{id(self)}") as client:
            self._client = client
            await client.subscribe(f"{self.prefix}action")
            await self.publish_state()
            self.ready.set()
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._live())
                    async for message in client.messages:
                        payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
                        await self.act(bytes(payload).decode("utf-8", "replace"))
            finally:
                self.ready.clear()
                self._client = None

    async def act(self, action: str) -> None:
        """Carry out an action string the way mower_logic's current behaviour would."""
        self.received.append(action)
        if self.state == "IDLE" and action == "mower_logic:idle/start_mowing" and not self.emergency:
            self._enter("UNDOCKING")
        elif self.state == "MOWING" and action == "mower_logic:mowing/pause":
            self._enter("PAUSED")
        elif self.state == "PAUSED" and action == "mower_logic:mowing/continue" and not self.emergency:
            self._enter("MOWING")
        elif self.state in ("MOWING", "PAUSED") and action == "mower_logic:mowing/abort_mowing":
            self._enter("DOCKING")
        await self.publish_state()

    async def set_emergency(self, on: bool) -> None:
        """Press (or clear) the emergency stop: a lifted wheel, a bumper, the stop button."""
        self.emergency = on
        if on and self.state in ("MOWING", "UNDOCKING", "DOCKING"):
            self._enter("PAUSED")
        await self.publish_state()

    def _enter(self, state: str) -> None:
        self.state = state
        self.sub_state = ""
        self._entered = self.clock.time()

    async def _live(self) -> None:
        last = self.clock.time()
        while True:
            # Waiting for an absolute time and stepping by the time that really passed keeps the robot
            # right when a test moves the clock forward in one big step.
            await self.clock.sleep_until(last + self.tick)
            now = self.clock.time()
            self._step(now - last)
            last = now
            await self.publish_state()

    def _step(self, dt: float) -> None:
        in_state = self.clock.time() - self._entered
        if self.state == "IDLE":
            self.battery = min(1.0, self.battery + self.charge * dt)
        elif self.state in ("MOWING", "PAUSED", "UNDOCKING", "DOCKING"):
            self.battery = max(0.0, self.battery - self.drain * dt * (1.0 if self.state == "MOWING" else 0.3))
        if self.state == "UNDOCKING" and in_state >= self.undock_seconds:
            self._enter("MOWING")
        elif self.state == "MOWING":
            self._x, self._y = 5 * math.cos(in_state / 60), 5 * math.sin(in_state / 60)
            if self.battery <= self.low_battery:
                self._enter("DOCKING")  # mower_logic docks when the battery runs low
        elif self.state == "DOCKING" and in_state >= self.dock_seconds:
            self._enter("IDLE")
            self._x = self._y = 0.0

    async def publish_state(self) -> None:
        """Report the state now (the real robot does so several times a second)."""
        if self._client is None:
            return
        body = json.dumps(self.report(), separators=(",", ":"))
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.publish(f"{self.prefix}robot_state/json", body)
