"""Payload text, value templates and numbers, the way Home Assistant's MQTT platforms read them.

A value template sees `value` (the payload text) and `value_json` (the payload parsed as JSON, when
it is JSON). A template that fails, for instance because the JSON lacks the key it reads, rejects
the message with one clear log line; an empty result is ignored, as Home Assistant ignores it.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any, Final

from devices.payload import BadPayload, preview
from hub.errors import CommandError
from hub.template import Template, TemplateFailure


class _Ignore(str):
    """Marker: the message carries nothing for this entity."""

    __slots__ = ()


IGNORE: Final = _Ignore("")

_templates: dict[str, Template] = {}


def compiled(source: str) -> Template:
    """A compiled template, shared by every entity using the same source (configs repeat them a lot)."""
    template = _templates.get(source)
    if template is None:
        template = _templates[source] = Template(source)
    return template


def decode(payload: bytes, encoding: str = "utf-8") -> str:
    """The payload as text in the announced encoding (UTF-8 by default)."""
    try:
        return payload.decode(encoding or "utf-8")
    except (UnicodeDecodeError, LookupError):
        raise BadPayload(f"is not {encoding or 'utf-8'} text") from None


def variables(text: str) -> dict[str, Any]:
    """`value` and, for JSON payloads, `value_json`."""
    found: dict[str, Any] = {"value": text}
    # Without JSON there is no value_json: a template that reads it fails with a clear message.
    with contextlib.suppress(json.JSONDecodeError):
        found["value_json"] = json.loads(text)
    return found


def render_value(source: str | None, text: str) -> str:
    """The text a state message means after its value template; IGNORE when that is empty."""
    if source is None:
        result = text.strip()
    else:
        try:
            result = compiled(source).render(variables(text)).strip()
        except TemplateFailure as exc:
            raise BadPayload(f"{preview(text)} did not fit the value template {source!r} ({exc})") from None
    return result if result else IGNORE


def render_command(source: str | None, value: str) -> str:
    """A command payload: `value`, or the command template rendered with `value`."""
    if source is None:
        return value
    try:
        return compiled(source).render({"value": value})
    except TemplateFailure as exc:
        raise CommandError(f"the command template {source!r} failed: {exc}") from None


def number_or_text(text: str) -> Any:
    """'21' → 21, '21.5' → 21.5, anything else stays text."""
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text  # 'nan' and 'inf' are not readings
    return int(number) if number.is_integer() and text.lstrip("+-").isdigit() else number
