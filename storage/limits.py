"""Rate windows and server secrets: small shared state that every server process must agree on."""

from __future__ import annotations

import secrets

from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.schema import RateWindow, ServerSecret


class RateWindows:
    """Fixed-window request counters keyed by any string ("session:<id>", "new-session:<address>")."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def hit(self, key: str, now: float, window_s: float) -> tuple[int, float]:
        """Count one request under `key`; returns (requests in the current window, window start).

        One conditional UPDATE (or the first INSERT), so concurrent requests from several processes are all
        counted.
        """
        fresh = RateWindow.window_start <= now - window_s
        for _ in range(3):  # an INSERT can lose a race to another process's INSERT: then the UPDATE holds
            with self._sessions.begin() as s:
                done = s.execute(update(RateWindow).where(RateWindow.key == key).values(
                    count=case((fresh, 1), else_=RateWindow.count + 1),
                    window_start=case((fresh, now), else_=RateWindow.window_start),
                ).execution_options(synchronize_session=False))
                if done.rowcount:  # type: ignore[attr-defined]
                    count, start = s.execute(select(RateWindow.count, RateWindow.window_start)
                                             .where(RateWindow.key == key)).one()
                    return int(count), float(start)
            try:
                with self._sessions.begin() as s:
                    s.add(RateWindow(key=key, window_start=now, count=1))
                return 1, now
            except IntegrityError:
                continue
        raise RuntimeError(f"rate window {key!r} could be neither updated nor created")

    def forget_before(self, before: float) -> int:
        """Delete windows that started before `before` (they no longer limit anything)."""
        with self._sessions.begin() as s:
            done = s.execute(delete(RateWindow).where(RateWindow.window_start < before))
            return int(done.rowcount or 0)  # type: ignore[attr-defined]


class ServerSecrets:
    """Random keys made once and kept in the database, so every process and every restart uses the same one."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, name: str) -> str:
        """The key called `name`, made (256 random bits) the first time it is asked for."""
        with self._sessions() as s:
            row = s.get(ServerSecret, name)
            if row is not None:
                return row.value
        try:
            with self._sessions.begin() as s:
                s.add(ServerSecret(name=name, value=secrets.token_urlsafe(32)))
        except IntegrityError:
            pass  # another process made it first: use theirs
        with self._sessions() as s:
            row = s.get(ServerSecret, name)
            assert row is not None  # just written, by us or by another process
            return row.value
