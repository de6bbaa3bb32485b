"""Opening the hub's SQLite files the same SD-card-friendly way (timers, rule traces, history)."""

from __future__ import annotations

from pathlib import Path

import aiosqlite

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # NORMAL in WAL mode: a power cut may lose the last commits but never corrupts the file.
    "PRAGMA synchronous=NORMAL",
    "PRAGMA temp_store=MEMORY",  # sorts and GROUP BY must not write temp files to the SD card
    "PRAGMA journal_size_limit=8388608",  # give the WAL back after a burst
    "PRAGMA busy_timeout=5000",  # the CLI reads while the hub writes
)


async def apply_pragmas(db: aiosqlite.Connection) -> None:
    """Set WAL mode and the settings every hub database shares."""
    for pragma in PRAGMAS:
        await db.execute(pragma)


async def open_database(path: Path, schema: str) -> aiosqlite.Connection:
    """Create the folder and the file if needed, apply the shared settings and the schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path)
    try:
        await apply_pragmas(db)
        await db.executescript(schema)
        await db.commit()
    except BaseException:
        await db.close()
        raise
    return db
