"""OpenSprinkler irrigation controllers: zones as valves, a master valve, sequences, rain delay, and a
hub-enforced maximum run time per zone that survives restarts of the hub.

Public API: `OpenSprinklerDriver` (registered as `type: opensprinkler`) and its `OpenSprinklerConfig`.
"""

from devices.opensprinkler.config import OpenSprinklerConfig
from devices.opensprinkler.driver import OpenSprinklerDriver

__all__ = ["OpenSprinklerConfig", "OpenSprinklerDriver"]
