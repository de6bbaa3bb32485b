"""Logging to stderr in a form journald shows well: under systemd, a `<N>` priority prefix and no
timestamp (journald adds its own); in a terminal, a timestamp and the level."""

from __future__ import annotations

import logging
import os
import sys

_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """`<6>hub.supervisor: message` — journald maps the prefix to the message priority."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6)
        return f"<{priority}>{record.name}: {super().format(record)}"


def setup(verbose: bool = False, level: str = "info") -> None:
    """Send logs to stderr; `verbose` means debug."""
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else getattr(logging, level.upper(), logging.INFO))
    # The broker and client libraries are chatty at debug level; keep them at warnings unless asked.
    for noisy in ("amqtt", "transitions", "aiomqtt", "aiosqlite", "uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.INFO if verbose else logging.WARNING)
