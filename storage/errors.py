"""The error hierarchy shared by every layer.

Each message is safe to show to a user and says what to do. Library code raises these;
the edges (CLI, web UI, API) convert them into exit codes, `gr.Error` or HTTP bodies.
"""

from __future__ import annotations


class ConciergeError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class ConfigError(ConciergeError):
    """A setting is unknown or invalid."""


class CatalogImportError(ConciergeError):
    """A catalog file could not be imported; nothing of it was committed."""

    def __init__(self, path: str, line: int | None, field: str | None, problem: str) -> None:
        where = path if line is None else f"{path}, line {line}"
        if field:
            where += f", field '{field}'"
        super().__init__(f"{where}: {problem}. Fix the file and run `concierge ingest` again; "
                         "nothing from this file was stored.")
        self.path, self.line, self.field, self.problem = path, line, field, problem


class EmptyCatalogError(ConciergeError):
    """The database has no items yet."""


class UnknownSessionError(ConciergeError):
    """A session id that is not in the database."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Unknown session '{session_id}'. Start a new conversation by leaving out --session "
                         "(the reply prints its session id).")
        self.session_id = session_id


class ModelUnavailableError(ConciergeError):
    """A model package is missing or its files do not check out."""
