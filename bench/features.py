"""Which parts of the hub exist in this checkout, so a workload that needs a missing part says
"not available: <reason>" instead of measuring something else under its name."""

from __future__ import annotations

import importlib
import importlib.util


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _history() -> str | None:
    from hub.config import HubConfig

    if _has_module("hub.history") and "history" in HubConfig.model_fields:
        return None
    return "the history store is not part of this hub yet (no hub/history)"


def _rules() -> str | None:
    if _has_module("rules.engine"):
        return None
    return "the rule engine is not part of this hub yet (no rules/engine.py)"


def _web() -> str | None:
    web = importlib.import_module("web")
    if hasattr(web, "create_app"):
        return None
    return "the web panel is not part of this hub yet (web.create_app is missing)"


_CHECKS = {"history": _history, "rules": _rules, "web": _web}


def missing(part: str) -> str | None:
    """Why `part` ('rules', 'history', 'web') cannot be measured, or None when it is there."""
    return _CHECKS[part]()
