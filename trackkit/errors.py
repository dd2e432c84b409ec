"""Errors that name the file, the line and the problem.

Every reader and evaluator raises these instead of returning a silently wrong number.
"""
from __future__ import annotations

from pathlib import Path


class TrackkitError(Exception):
    """Base class of every error trackkit raises on purpose."""


class DataError(TrackkitError, ValueError):
    """Malformed or missing input data.

    ``str(err)`` reads ``<file>:<line>: <problem>`` (line omitted when the problem is the
    whole file), so a user can open the file at the right place.
    """

    def __init__(self, path: str | Path | None, problem: str, line: int | None = None):
        self.path = None if path is None else Path(path)
        self.line = line
        self.problem = problem
        where = "" if path is None else str(path)
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {problem}" if where else problem)


class ConfigError(TrackkitError, ValueError):
    """Unknown preset, bad override, inconsistent settings."""
