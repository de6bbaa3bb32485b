"""MQTT topic filters: the wildcard rules, shared by the MQTT router (devices) and the rules.

A filter is a topic with `+` (exactly one level) and `#` (the rest, only as the last level);
topics that start with `$` (the broker's `$SYS`) are never matched by a leading wildcard.
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
    return match_levels(topic_filter.split("/"), topic.split("/"))


def match_levels(pattern: list[str], levels: list[str]) -> bool:
    """`matches` on filter and topic already split at '/' (the router keeps filters split)."""
    for index, part in enumerate(pattern):
        if part == "#":
            return not (index == 0 and levels and levels[0].startswith("$"))
        if index >= len(levels):
            return False
        if part == "+":
            if index == 0 and levels[0].startswith("$"):
                return False
            continue
        if part != levels[index]:
            return False
    return len(pattern) == len(levels)
