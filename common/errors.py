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


class SessionAuthError(ConciergeError):
    """A call on a session without its bearer token, or with another session's token."""

    def __init__(self, missing: bool) -> None:
        super().__init__("This call needs the header 'Authorization: Bearer <token>' with the token returned by "
                         "POST /api/v1/sessions." if missing else
                         "The token does not belong to this session. Use the token returned when this session "
                         "was created, or start a new session with POST /api/v1/sessions.")
        self.missing = missing


class RateLimitedError(ConciergeError):
    """Too many requests on one session within the rate window."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Too many requests on this session. Wait {retry_after:.0f} s and try again.")
        self.retry_after = retry_after


class UnknownItemError(ConciergeError):
    """An item id that is not in the catalog."""

    def __init__(self, item_id: str) -> None:
        super().__init__(f"Unknown item '{item_id}'. Use an item_id from a recommendation or from the catalog.")
        self.item_id = item_id


class InvalidPreferenceError(ConciergeError):
    """A profile edit names a preference that does not exist."""


class SessionExpiredError(ConciergeError):
    """A session unused for longer than the idle limit."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"Session '{session_id}' has expired after a long idle time. Start a new one with "
                         "POST /api/v1/sessions.")
        self.session_id = session_id


class TurnInProgressError(ConciergeError):
    """A message sent while the session's previous message is still being answered."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("The previous message of this session is still being answered. Wait for its reply, "
                         "then send the next one.")
        self.retry_after = retry_after


class BusyError(ConciergeError):
    """A write that kept losing to concurrent writes of the same conversation."""


class IdentityError(ConciergeError):
    """A user id whose signature is missing, wrong or expired while the server requires signed ids."""


class RequestKeyError(ConciergeError):
    """An Idempotency-Key sent again with a different message."""


class LMError(ConciergeError):
    """The language model failed to answer (a server down, slow or refusing): callers take their deterministic
    path (the rules' reading, the catalog's template reason) and the turn goes on."""
