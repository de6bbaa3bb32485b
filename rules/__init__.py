"""The rule engine (YAML automations). Built on the hub core; never talks to MQTT or serial directly."""
