"""Home Assistant MQTT discovery: consume announced entities (`type: ha_discovery`) and announce ours.

Public API: `HaDiscoveryDriver`, `HaDiscoveryConfig`, `expand_all` (the abbreviation table applied).
"""

from devices.discovery.abbreviations import expand_all
from devices.discovery.config import HaDiscoveryConfig
from devices.discovery.driver import HaDiscoveryDriver

__all__ = ["HaDiscoveryConfig", "HaDiscoveryDriver", "expand_all"]
