"""Connections to the PostgreSQL engine: URL checks, one pool per database and process, and errors that
say what to do without ever showing the password.

psycopg 3 is imported here only, so the embedded engine never loads it.
"""

from __future__ import annotations

import atexit
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ...errors import DatabaseError, SettingsError

SCHEMA_NAME_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
CONNECT_TIMEOUT = 10  # seconds; an unreachable server fails fast instead of hanging a bot start
POOL_MAX = 8
URL_EXAMPLE = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"

_pools: dict[tuple[str, str, str], Any] = {}
_pools_lock = threading.Lock()


def redact(text: str, url: str | None = None) -> str:
    """`text` with the password of `url` (and any password in a URL inside it) masked."""
    if url:
        password = _password(url)
        if password:
            text = text.replace(password, "***")
    text = re.sub(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", r"\1***", text, flags=re.I)


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def describe(url: str) -> str:
    """host:port/database of `url`, for messages (never the user's password)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "the database in QA_BOT_DATABASE_URL"
    database = parts.path.lstrip("/") or "postgres"
    if "host=" in parts.query:  # a Unix socket folder given as ?host=/path
        host = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p).get("host", host)
    return f"{host}:{port}/{database}"


def check_url(url: str) -> str:
    """The URL if it is a PostgreSQL URL, else a SettingsError naming the expected form."""
    try:
        scheme = urlsplit(url).scheme
        urlsplit(url).port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        scheme = ""
    if scheme not in ("postgresql", "postgres"):
        got = f"a {scheme!r} URL" if scheme.isalnum() else "something else"
        raise SettingsError(f"QA_BOT_DATABASE_URL must be a PostgreSQL URL like {URL_EXAMPLE}, not {got}.")
    return url


def check_schema(name: str) -> str:
    if not SCHEMA_NAME_RE.fullmatch(name):
        raise SettingsError(f"QA_BOT_DATABASE_SCHEMA={name!r} is not valid: use lower-case letters, digits and "
                            "underscores (a PostgreSQL schema name).")
    return name


def connection_error(exc: Exception, url: str) -> DatabaseError:
    """One sentence for a failed connection: where, why (first line of the server's reason), what to do."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    reason = re.sub(r"^connection failed: ", "", reason)
    return DatabaseError(redact(f"Cannot connect to PostgreSQL at {describe(url)} ({reason}). Check "
                                "QA_BOT_DATABASE_URL and that the server is running and reachable.", url))


def connect(url: str, autocommit: bool = False, schema: str | None = None):  # -> psycopg.Connection
    """One connection (for indexing and locks), with clear errors; `schema` first on the search path."""
    import psycopg

    check_url(url)
    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT,
                               application_name="qa-bot")
    except psycopg.Error as exc:
        raise connection_error(exc, url) from None
    if schema:
        _set_search_path(conn, schema)
    return conn


def _set_search_path(conn, schema: str) -> None:
    from psycopg import sql

    was = conn.autocommit
    conn.autocommit = True
    conn.execute(sql.SQL("SET search_path TO {}, public").format(sql.Identifier(check_schema(schema))))
    conn.autocommit = was


def pool(url: str, schema: str, kind: str = "read", configure: Callable[[Any], None] | None = None):
    """The process's pool of autocommit connections for (url, schema, kind): "read" for searches (one
    statement each, so one snapshot of the corpus each), "write" for the rest (index facts, bot state)."""
    key = (url, schema, kind)
    with _pools_lock:
        found = _pools.get(key)
        if found is not None:
            return found
        conn = connect(url, schema=schema)  # fail here, with a clear message, rather than in the pool
        conn.close()
        from psycopg_pool import ConnectionPool

        def setup(conn) -> None:
            conn.autocommit = True
            _set_search_path(conn, schema)
            if configure is not None:
                configure(conn)

        created = ConnectionPool(url, min_size=1, max_size=POOL_MAX, configure=setup, open=True,
                                 name=f"qa-bot-{kind}", timeout=30,
                                 kwargs={"connect_timeout": CONNECT_TIMEOUT, "application_name": "qa-bot"})
        _pools[key] = created
        return created


def close_pools() -> None:
    with _pools_lock:
        for p in _pools.values():
            p.close()
        _pools.clear()


atexit.register(close_pools)
