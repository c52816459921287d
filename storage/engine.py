"""Engine factory and migrations: one code path for SQLite files and PostgreSQL URLs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from common.errors import ConfigError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x636F6E63  # the advisory lock migrations hold on PostgreSQL ("conc")


def make_engine(url: str) -> Engine:
    """Create an engine for any SQLAlchemy URL; SQLite files get their folder and sane pragmas.

    Args:
        url: e.g. ``sqlite:////home/me/.local/share/concierge/concierge.db`` or
            ``postgresql+psycopg://user@127.0.0.1/concierge``.
    """
    if not url or "://" not in url:
        raise ConfigError(f"'{url}' is not a database URL; use e.g. sqlite:///path/to/concierge.db "
                          "or postgresql+psycopg://user@host/db (setting CONCIERGE_DATABASE_URL).")
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[1] if "///" in url else ""
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    # a failed statement's error (and its log line) shows the SQL without the bound values: those are users'
    # messages, replies and ids
    engine = create_engine(url, hide_parameters=True, **kwargs)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A sessionmaker whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the latest Alembic revision, or to `revision` (creates a blank database too)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # several processes starting at once on an empty database: one migrates, the others wait for its
            # transaction (DDL is transactional here) and then find the schema current
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    log.debug("schema at %s for %s", revision, engine.url.render_as_string(hide_password=True))


def open_database(url: str) -> sessionmaker[Session]:
    """The session factory of a migrated database: the usual way in for commands that need no models."""
    engine = make_engine(url)
    migrate(engine)
    return session_factory(engine)


def table_names(engine: Engine) -> list[str]:
    """Names of the tables that exist, sorted."""
    return sorted(inspect(engine).get_table_names())
