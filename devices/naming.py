"""Entity names from device names: `Garten Pumpe 2` → `garten_pumpe_2`, the way drivers derive entity ids."""

from __future__ import annotations

import re
import unicodedata

_NOT_ALLOWED = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    """Lower-case ASCII letters, digits and '_' only (what an entity's object id may contain); may be empty."""
    # NFKD splits 'ü' into 'u' + a combining mark, which the ASCII encoding then drops: 'Küche' → 'kuche'.
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_ALLOWED.sub("_", plain.lower()).strip("_")


def object_id(*parts: str, fallback: str = "entity") -> str:
    """The slug of the non-empty parts joined by '_', or `fallback` when nothing usable is left."""
    joined = "_".join(piece for piece in (slug(part) for part in parts) if piece)
    return joined or slug(fallback) or "entity"
