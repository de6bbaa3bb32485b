"""YAML files read with positions: every mapping and list remembers where it stood in the file.

Syntax errors become `ConfigError` with `file:line:col`; `!secret name` is replaced by the value
from `secrets.yaml` beside the file. Positions are looked up later by `position()` so that a
validation error deep inside the data can still name its line and column.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from hub.errors import ConfigError, Issue

Loc = Sequence[str | int]


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def load_text(text: str, filename: str) -> Any:
    """Parse YAML text, turning a syntax error into a `ConfigError` with its position."""
    try:
        return _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "the YAML is malformed"
        raise ConfigError([Issue(filename, line, column, f"YAML syntax error: {problem}")]) from exc
    except YAMLError as exc:
        raise ConfigError([Issue(filename, 1, 1, f"YAML error: {exc}")]) from exc


def load_file(path: Path, *, secrets: Path | None = None) -> Any:
    """Read a YAML file and resolve `!secret` from `secrets` (default: `secrets.yaml` beside it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([Issue(str(path), 1, 1, "the file does not exist")]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([Issue(str(path), 1, 1, "the file is not UTF-8 text")]) from exc
    data = load_text(text, str(path))
    if data is None:
        data = CommentedMap()
    issues: list[Issue] = []
    _resolve_secrets(data, str(path), secrets or path.with_name("secrets.yaml"), {}, issues)
    if issues:
        raise ConfigError(issues)
    return data


def _resolve_secrets(node: Any, filename: str, secrets_path: Path, cache: dict[str, Any], issues: list[Issue]) -> None:
    items: list[tuple[Any, Any, tuple[int, int]]] = []
    if isinstance(node, CommentedMap):
        items = [(k, v, node.lc.value(k)) for k, v in node.items()]
    elif isinstance(node, CommentedSeq):
        items = [(i, v, node.lc.item(i)) for i, v in enumerate(node)]
    for key, value, (line, col) in items:
        if isinstance(value, TaggedScalar):
            if value.tag.value != "!secret":
                issues.append(
                    Issue(filename, line + 1, col + 1, f"unknown tag '{value.tag.value}' (only !secret is known)")
                )
                continue
            found = _secret(str(value.value), secrets_path, cache)
            if isinstance(found, str):
                issues.append(Issue(filename, line + 1, col + 1, found))
                continue
            node[key] = found[0]
        else:
            _resolve_secrets(value, filename, secrets_path, cache, issues)


def _secret(name: str, path: Path, cache: dict[str, Any]) -> tuple[Any] | str:
    """The secret's value in a 1-tuple, or the message saying why it is missing."""
    if "data" not in cache:
        cache["data"] = load_file(path) if path.exists() else None
    secrets = cache["data"]
    if secrets is None:
        return f"!secret {name}: there is no {path.name} beside this file"
    if not isinstance(secrets, dict) or name not in secrets:
        return f"!secret {name}: '{name}' is not defined in {path.name}"
    return (secrets[name],)


def position(root: Any, loc: Loc, *, key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of the value at `loc`, or of its key when `key` is true.

    Walks as deep as the data goes; a path that leaves the data (a missing key) gives the position
    of the deepest mapping or list that exists, which is where the missing key belongs.
    """
    node = root
    best = (0, 0)
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, CommentedMap) and part in node:
            best = node.lc.key(part) if (last and key) else node.lc.value(part)
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            best = node.lc.item(part)
            node = node[part]
        else:
            if isinstance(node, CommentedMap | CommentedSeq):
                best = (node.lc.line, node.lc.col)
            break
    return best[0] + 1, best[1] + 1
