"""MQTT: the shared connection, topic routing, generic entities, the hub's own MQTT API, the embedded broker."""
