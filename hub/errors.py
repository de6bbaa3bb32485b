"""The errors Hausmeister raises, each worded for the person who has to act on it.

HubError
├── ConfigError        a configuration or rule file is wrong (carries every issue found)
├── DriverError        a device driver cannot do what was asked (port gone, broker down)
├── RuleError          a rule failed at run time
└── CommandError       a command was refused before or while it reached the device
    └── CommandTimeout the device did not confirm the new state in time
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


class HubError(Exception):
    """Root of every error Hausmeister raises on purpose."""


@dataclass(frozen=True)
class Issue:
    """One problem in a file, with the position a text editor can jump to (1-based)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ConfigError(HubError):
    """A configuration (or rule) file is wrong; `issues` lists every problem found, not just the first."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))

    @classmethod
    def single(cls, file: str | Path, line: int, column: int, message: str) -> ConfigError:
        """Build an error with one issue."""
        return cls([Issue(str(file), line, column, message)])


class DriverError(HubError):
    """A driver could not talk to its device or broker."""


class RuleError(HubError):
    """A rule failed while it ran."""


class CommandError(HubError):
    """A command was refused: unknown entity, an action its kind does not have, bad parameters, or a device error."""


class CommandTimeout(CommandError):
    """The device did not confirm the new state within the entity's command timeout."""
