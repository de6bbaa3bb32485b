"""MQTT topic filters for rules: checked when a rule is loaded, matched by the scenario runner.

`rules/` may not import `devices/`, so this repeats the few lines of MQTT's wildcard rules that
`devices.mqtt.topics` also has (a candidate to move into the hub core).
"""

from __future__ import annotations


def validate_filter(topic_filter: str) -> str:
    """Check MQTT wildcard rules: `+` fills a whole level, `#` only as the whole last level."""
    if not topic_filter:
        raise ValueError("a topic cannot be empty")
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValueError(f"'{topic_filter}': '#' must be the whole last level of a topic filter")
        if "+" in level and level != "+":
            raise ValueError(f"'{topic_filter}': '+' must fill a whole level of a topic filter")
    return topic_filter


def matches(topic_filter: str, topic: str) -> bool:
    """Whether `topic` matches the (valid) `topic_filter`."""
    pattern = topic_filter.split("/")
    levels = topic.split("/")
    for index, part in enumerate(pattern):
        if part == "#":
            return not (index == 0 and levels[0].startswith("$"))
        if index >= len(levels) or (part != "+" and part != levels[index]):
            return False
        if part == "+" and index == 0 and levels[0].startswith("$"):
            return False
    return len(pattern) == len(levels)
