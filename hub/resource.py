"""Resources that are opened once: entering a second time, or after closing, is a clear error."""

from __future__ import annotations

from types import TracebackType
from typing import ClassVar, Self


class SingleUse:
    """Base for async context managers that open once; subclasses name themselves in `what`."""

    what: ClassVar[str] = "this resource"
    _entered: bool = False
    _closed: bool = False

    async def __aenter__(self) -> Self:
        if self._closed:
            raise RuntimeError(f"{self.what} was closed; create a new one")
        if self._entered:
            raise RuntimeError(f"{self.what} is already open")
        self._entered = True
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closed = True
