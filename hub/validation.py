"""Pydantic validation errors turned into plain-language issues with file, line and column.

unknown key 'comand_topic' — did you mean 'command_topic'?
'port' must be a whole number, not 'abc'
'name' is missing
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from hub.errors import ConfigError, Issue
from hub.yamlfile import Loc, position

M = TypeVar("M", bound=BaseModel)

_TYPE_WORDS = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "dict_type": "a mapping of keys to values",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
    "list_type": "a list",
}


def suggest(word: str, choices: Iterable[str]) -> str | None:
    """The closest valid choice to a misspelled `word`, if one is close enough."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def validate_model(model: type[M], data: Any, *, root: Any, filename: str, prefix: Loc = ()) -> M:
    """Validate `data` (found at `prefix` inside `root`) against `model`, raising every issue at once."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(issues_from(exc, model, root=root, filename=filename, prefix=prefix)) from None


def issues_from(
    exc: ValidationError, model: type[BaseModel], *, root: Any, filename: str, prefix: Loc = ()
) -> list[Issue]:
    """One `Issue` per pydantic error, positioned in the file and worded for a person."""
    issues = []
    for error in exc.errors(include_url=False):
        loc = _clean_loc(error["loc"])
        at_key = error["type"] == "extra_forbidden"
        line, col = position(root, [*prefix, *loc], key=at_key)
        issues.append(Issue(filename, line, col, describe(error, loc, model)))
    return sorted(set(issues), key=lambda i: (i.line, i.column, i.message))


def _clean_loc(loc: Sequence[str | int]) -> list[str | int]:
    # Discriminated unions add the tag (e.g. 'switch') to the path; it is not a key in the file.
    return [part for part in loc if not (isinstance(part, str) and part.startswith("function-"))]


def describe(error: ErrorDetails, loc: Sequence[str | int], model: type[BaseModel]) -> str:
    """The plain-language message for one pydantic error."""
    kind = error["type"]
    name = next((str(p) for p in reversed(loc) if isinstance(p, str)), "value")
    value = error.get("input")
    if kind == "extra_forbidden":
        known = _keys_at(model, loc[:-1])
        hint = suggest(name, known)
        if hint:
            return f"unknown key '{name}' — did you mean '{hint}'?"
        listing = ", ".join(sorted(known)) if known else "none"
        return f"unknown key '{name}' (valid keys here: {listing})"
    if kind == "missing":
        return f"'{name}' is missing"
    if kind in _TYPE_WORDS:
        return f"'{name}' must be {_TYPE_WORDS[kind]}, not {_show(value)}"
    if kind in ("literal_error", "enum"):
        expected = (error.get("ctx") or {}).get("expected", "")
        return f"'{name}' must be one of {expected}, not {_show(value)}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"'{name}' {error['msg'].lower().replace('input should', 'must')}, not {_show(value)}"
    if kind in ("value_error", "assertion_error"):
        message = str((error.get("ctx") or {}).get("error", error["msg"]))
        # A whole-entry check (loc ends at a list index) speaks for itself; a field check names the key.
        return f"'{name}': {message}" if loc and isinstance(loc[-1], str) else message
    if kind in ("too_short", "too_long"):
        limit = (error.get("ctx") or {}).get("min_length" if kind == "too_short" else "max_length")
        word = "at least" if kind == "too_short" else "at most"
        return f"'{name}' needs {word} {limit} entr{'y' if limit == 1 else 'ies'}"
    return f"'{name}': {error['msg']}"


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    return repr(value) if isinstance(value, str) else str(value)


def _keys_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The field names (and aliases) of the model found by following `loc` from `model`."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in _field_index(current):
            # A tag of a discriminated union, or a name we cannot follow: try the union members.
            current = _union_member(current, part)
            if current is None:
                return []
            continue
        current = _inner_model(fields[_field_index(current)[part]].annotation)
        if current is None:
            return []
    if not hasattr(current, "model_fields"):
        return []
    return sorted(_field_index(current))


def _field_index(model: Any) -> dict[str, str]:
    index: dict[str, str] = {}
    for field_name, info in model.model_fields.items():
        index[info.alias or field_name] = field_name
        index[field_name] = field_name
    return index


def _union_member(current: Any, tag: str) -> Any:
    for member in getattr(current, "__args__", ()):
        if hasattr(member, "model_fields"):
            literal = member.model_fields.get("type") or member.model_fields.get("kind")
            if literal is not None and tag in getattr(literal.annotation, "__args__", ()):
                return member
    return None


def _inner_model(annotation: Any) -> Any:
    """The model inside `Model`, `Model | None`, `list[Model]`, `dict[str, Model]` or a union of models."""
    if hasattr(annotation, "model_fields"):
        return annotation
    args = [a for a in getattr(annotation, "__args__", ()) if a is not type(None)]
    models = [a for a in args if hasattr(a, "model_fields")]
    if len(models) == 1:
        return models[0]
    if len(models) > 1:
        return annotation  # a union; the next path part names the member
    for arg in args:
        inner = _inner_model(arg)
        if inner is not None:
            return inner
    return None
