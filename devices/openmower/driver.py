"""The OpenMower driver: `robot_state/json` becomes a `lawn_mower` and a battery sensor; commands go out as
actions on the `action` topic, the way OpenMower's own app sends them.

    start_mowing   mower_logic:idle/start_mowing   (mower_logic:mowing/continue when it is paused)
    pause          mower_logic:mowing/pause
    dock           mower_logic:mowing/abort_mowing (it drives home and docks)

A command the robot cannot take in its present behaviour is refused with the reason, instead of
being sent and silently ignored. `start_mowing` is also refused while a `refuse_start_while`
entity is on. OpenMower has no last will on MQTT, so the robot counts as offline when its state
has not arrived for `offline_after` seconds (it normally reports several times a second).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from devices.base import Driver
from devices.mqtt.topics import Message
from devices.openmower.config import OpenMowerConfig
from devices.openmower.interlock import start_refusal
from devices.openmower.state import RobotState, parse_robot_state, percent
from hub.commands import Command
from hub.entity import EntitySpec
from hub.errors import CommandError

log = logging.getLogger(__name__)

START = "mower_logic:idle/start_mowing"
CONTINUE = "mower_logic:mowing/continue"
PAUSE = "mower_logic:mowing/pause"
HOME = "mower_logic:mowing/abort_mowing"

# Why the robot cannot take a command in a behaviour (OpenMower ignores actions that do not apply).
_CANNOT = {
    ("pause", "IDLE"): "The mower is docked; there is nothing to pause",
    ("pause", "UNDOCKING"): "The mower is still leaving its dock; OpenMower can pause it once it mows",
    ("pause", "DOCKING"): "The mower is on its way home; OpenMower pauses only while mowing",
    ("dock", "UNDOCKING"): "The mower is leaving its dock; OpenMower can send it home once it mows",
}


class OpenMowerDriver(Driver[OpenMowerConfig]):
    """One OpenMower robot."""

    config_model = OpenMowerConfig

    async def __aenter__(self) -> Self:
        config = self.config
        self.robot: RobotState | None = None
        self._last_seen: float | None = None
        self._fresh = asyncio.Event()
        self._silent = False
        self._unknown_states: set[str] = set()
        self._removers: list[Callable[[], None]] = []
        name = config.title or config.name.replace("_", " ").capitalize()
        spec = EntitySpec(config.mower_id, name, command_timeout=config.command_timeout)
        self.context.add_entity(spec, self.execute)
        self.context.add_entity(EntitySpec(config.battery_id, f"{name} battery", unit="%", device_class="battery"))
        self.context.set_available(False)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for remove in self._removers:
            remove()

    async def run(self) -> None:
        """Follow the robot's state and notice when it goes quiet, until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._subscribe(), name=f"openmower-mqtt:{self.config.name}")
            group.create_task(self._watch_silence(), name=f"openmower-silence:{self.config.name}")

    async def _subscribe(self) -> None:
        mqtt = self.context.require_mqtt()
        # Subscribing once connected avoids a window during connect in which a subscription is lost.
        await mqtt.wait_connected()
        self._removers.append(await mqtt.subscribe(self.config.state_topic, self._on_state, qos=0))

    # --- state in ----------------------------------------------------------------------------------
    def _on_state(self, message: Message) -> None:
        robot = parse_robot_state(message.payload)
        self.robot = robot
        activity = robot.activity
        if activity is None and robot.state not in self._unknown_states:
            self._unknown_states.add(robot.state)
            self.context.counters.inc("openmower.unknown_state")
            log.warning(
                "OpenMower '%s' reports the state '%s', which the hub does not know; it shows as unknown",
                self.config.name,
                robot.state,
            )
        self.context.set_state(self.config.mower_id, activity, attributes=robot.attributes(), available=True)
        self.context.set_state(self.config.battery_id, percent(robot.battery), available=True)
        if self._last_seen is None and self._silent:
            log.info("OpenMower '%s' reports again", self.config.name)
        self._silent = False
        self._last_seen = self.context.clock.time()
        self._fresh.set()

    async def _watch_silence(self) -> None:
        clock = self.context.clock
        while True:
            self._fresh.clear()
            if self._last_seen is None:
                await self._fresh.wait()
                continue
            quiet_at = self._last_seen + self.config.offline_after
            if clock.time() < quiet_at:
                await clock.sleep_until(quiet_at)
                continue
            log.warning(
                "OpenMower '%s' has sent no state for %.0f s; it shows as unavailable",
                self.config.name,
                self.config.offline_after,
            )
            self.context.set_available(False)
            self._last_seen = None
            self._silent = True

    # --- commands out --------------------------------------------------------------------------------
    async def execute(self, command: Command) -> None:
        """Send the action for a lawn_mower command, or refuse it with the reason."""
        robot = self.robot
        if robot is None:
            raise CommandError("The mower has not reported its state yet")
        action = self._action(command.action, robot)
        if action is not None:
            await self.context.require_mqtt().publish(self.config.action_topic, action, qos=1)
        # Recording the command also lets it confirm when the mower already is where it was sent.
        now = datetime.fromtimestamp(self.context.clock.time(), UTC).isoformat(timespec="seconds")
        self.context.set_state(self.config.mower_id, attributes={"last_command": {"action": command.action, "at": now}})

    def _action(self, command: str, robot: RobotState) -> str | None:
        behaviour = robot.behaviour
        if behaviour == "AREA_RECORDING":
            raise CommandError("The mower is recording an area; finish the recording in the OpenMower app first")
        if robot.activity is None:
            raise CommandError(f"The mower reports '{robot.state}', which the hub does not know how to command")
        if command == "start_mowing":
            return self._start(robot)
        if robot.emergency:
            raise CommandError("The mower reports an emergency stop and stands still; check it and clear it there")
        reason = _CANNOT.get((command, behaviour))
        if reason is not None:
            raise CommandError(reason)
        if command == "pause":
            return PAUSE if behaviour == "MOWING" else None
        return HOME if behaviour in ("MOWING", "PAUSED") else None  # dock: docked or docking already

    def _start(self, robot: RobotState) -> str | None:
        config = self.config
        refusal = start_refusal(
            config.refuse_start_while,
            self.context.state,
            self.context.store.spec,
            refuse_unknown=config.refuse_start_when_unknown,
        )
        if refusal is not None:
            raise CommandError(refusal)
        if robot.emergency:
            raise CommandError("The mower will not start: it reports an emergency stop; check it and clear it there")
        if robot.behaviour == "DOCKING":
            raise CommandError("The mower is on its way home; OpenMower can start it again once it has docked")
        if robot.behaviour == "PAUSED":
            return CONTINUE
        return START if robot.behaviour == "IDLE" else None  # undocking, mowing: it is on its way already
