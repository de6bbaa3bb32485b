"""Decoding device payloads, with errors that say in plain words what was wrong with the message."""

from __future__ import annotations

import json
from typing import Any


class BadPayload(ValueError):
    """A message from a device could not be understood; the text says why, for the log."""


def text(payload: bytes) -> str:
    """The payload as UTF-8 text."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadPayload(f"is not valid UTF-8 text (bad byte at position {exc.start})") from None


def json_value(payload: bytes) -> Any:
    """The payload parsed as JSON."""
    content = text(payload)
    try:
        return json.loads(content)
    except json.JSONDecodeError as exc:
        raise BadPayload(f"is not JSON ({exc.msg} at character {exc.pos}): {preview(content)}") from None


def json_object(payload: bytes) -> dict[str, Any]:
    """The payload parsed as a JSON object."""
    value = json_value(payload)
    if not isinstance(value, dict):
        raise BadPayload(f"should be a JSON object, got {type(value).__name__}: {preview(text(payload))}")
    return value


def preview(content: str | bytes, limit: int = 60) -> str:
    """A short, printable excerpt of a payload for a log line."""
    shown = content if isinstance(content, str) else content.decode("utf-8", "replace")
    shown = shown.replace("\n", "\\n")
    return repr(shown[:limit] + ("…" if len(shown) > limit else ""))


def dig(value: Any, path: str) -> Any:
    """Follow a JSON path like `$.ENERGY.Power` or `sensors[0].temp`; raise BadPayload if it is absent."""
    current = value
    for part in _path_parts(path):
        try:
            current = current[part]
        except (KeyError, IndexError, TypeError):
            raise BadPayload(f"has no value at '{path}'") from None
    return current


def _path_parts(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in path.removeprefix("$").strip(".").replace("[", ".[").split("."):
        if not piece:
            continue
        if piece.startswith("[") and piece.endswith("]"):
            inner = piece[1:-1].strip("'\"")
            parts.append(int(inner) if inner.lstrip("-").isdigit() else inner)
        else:
            parts.append(piece)
    return parts
