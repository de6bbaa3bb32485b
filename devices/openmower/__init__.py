"""OpenMower robot mowers (open_mower_ros / xbot_monitoring over MQTT): a `lawn_mower` with battery,
charging, emergency and the raw robot state, commands as OpenMower actions, and start interlocks.

Public API: `OpenMowerDriver` (registered as `type: openmower`) and its `OpenMowerConfig`.
"""

from devices.openmower.config import OpenMowerConfig
from devices.openmower.driver import OpenMowerDriver

__all__ = ["OpenMowerConfig", "OpenMowerDriver"]
