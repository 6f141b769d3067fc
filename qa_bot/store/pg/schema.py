"""The PostgreSQL engine's tables, their version, and their creation and upgrade by the program.

All tables live in one PostgreSQL schema (`QA_BOT_DATABASE_SCHEMA`, default `qa_bot`), so several bots,
the XQuAD evaluation and the tests can share a database without meeting. `qa_bot_schema` holds the
version of the layout; `qa-bot index` creates what is missing and upgrades an older layout step by step
(`MIGRATIONS`), inside its one transaction. A reader never changes the schema: it refuses a missing,
older or newer one with a sentence that says what to run.

Passage, paragraph and sentence ids come from sequences and are never reused, and a row never changes
once written (a changed article gets new rows): readers may cache rows by id.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from ...errors import DatabaseError, IndexMismatchError, IndexNotFoundError
from .connect import describe

SCHEMA_VERSION = 1
LOCK_NAMESPACE = 0x71AB07  # advisory-lock namespace of qa-bot (first key of the two-int form)
LOCK_INDEXER = 1
LOCK_POLLER = 2

# Version 1. `{dim}` is the model's dimension; the vector columns are re-typed by a rebuild for another model.
V1 = """
CREATE TABLE qa_bot_schema (version integer NOT NULL);
CREATE TABLE qa_index (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint NOT NULL DEFAULT 0,
    backend text, model text, dim integer, max_passage_chars integer,
    passages bigint NOT NULL DEFAULT 0, documents bigint NOT NULL DEFAULT 0,
    total_length bigint NOT NULL DEFAULT 0,          -- BM25: sum of analysed paragraph lengths
    langs text[] NOT NULL DEFAULT '{{}}',
    built_at timestamptz, epoch uuid NOT NULL DEFAULT gen_random_uuid(), versions jsonb);
INSERT INTO qa_index DEFAULT VALUES;
CREATE TABLE documents (
    doc_id text PRIMARY KEY, path text NOT NULL, title text NOT NULL, url text, outlet text, published text,
    lang text NOT NULL, content_hash text NOT NULL, indexed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE paragraphs (
    id bigserial PRIMARY KEY, doc_id text NOT NULL REFERENCES documents ON DELETE CASCADE,
    paragraph integer NOT NULL, embedding vector({dim}) NOT NULL);
CREATE INDEX paragraphs_doc ON paragraphs (doc_id);
CREATE TABLE passages (
    id bigserial PRIMARY KEY, doc_id text NOT NULL REFERENCES documents ON DELETE CASCADE,
    paragraph_id bigint NOT NULL REFERENCES paragraphs ON DELETE CASCADE,
    paragraph integer NOT NULL, start_char integer NOT NULL, end_char integer NOT NULL, text text NOT NULL,
    lang text NOT NULL, sentences jsonb NOT NULL,
    embedding vector({dim}) NOT NULL,
    sentence_vectors bytea,                            -- float16 rows, multi-sentence passages only
    bm25_length integer NOT NULL);
CREATE INDEX passages_doc ON passages (doc_id);
CREATE TABLE terms (id serial PRIMARY KEY, term text NOT NULL UNIQUE, df integer NOT NULL);
CREATE TABLE postings (
    term_id integer NOT NULL, passage_id bigint NOT NULL REFERENCES passages ON DELETE CASCADE,
    tf integer NOT NULL, length integer NOT NULL, PRIMARY KEY (term_id, passage_id));
CREATE INDEX postings_passage ON postings (passage_id);
"""
HNSW_INDEX = ("CREATE INDEX IF NOT EXISTS passages_hnsw ON passages USING hnsw (embedding vector_ip_ops) "
              "WITH (m = {m}, ef_construction = {ef})")
MIGRATIONS: dict[int, str] = {1: V1}  # version -> the statements that bring version-1 up to it
INDEX_TABLES = ("postings", "terms", "passages", "paragraphs", "documents")


def schema_version(conn, schema: str) -> int | None:
    """The layout version in `schema`, or None when qa-bot has never created its tables there."""
    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.qa_bot_schema",)).fetchone()[0]
    if not exists:
        return None
    row = conn.execute(sql.SQL("SELECT max(version) FROM {}.qa_bot_schema").format(
        sql.Identifier(schema))).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def check_readable(conn, schema: str, url: str) -> None:
    """Refuse a database without qa-bot tables, or with a layout of another version."""
    version = schema_version(conn, schema)
    where = f"PostgreSQL database {describe(url)} (schema {schema})"
    if version is None:
        raise IndexNotFoundError(f"There is no index in the {where} yet. Build it with: qa-bot index")
    _check_not_newer(version, where)
    if version < SCHEMA_VERSION:
        raise IndexMismatchError(f"The index in the {where} has layout version {version}, this qa-bot reads "
                                 f"version {SCHEMA_VERSION}. Upgrade it with: qa-bot index")


def _check_not_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise IndexMismatchError(
            f"The index in the {where} has layout version {version}, newer than this qa-bot understands "
            f"({SCHEMA_VERSION}). Upgrade qa-bot on this machine to the version that wrote it.")


def ensure_vector_extension(conn, url: str) -> None:
    """CREATE EXTENSION vector if it is missing; a server without pgvector, or a user who may not add
    it, gets one sentence naming the fix."""
    import psycopg

    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone():
        return
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public")
    except psycopg.Error as exc:
        reason = (exc.diag.message_primary or str(exc)).strip().splitlines()[0]
        raise DatabaseError(
            f"The PostgreSQL database {describe(url)} has no pgvector extension and qa-bot cannot add it "
            f"({reason}). Install pgvector on the server (e.g. the pgvector/pgvector:pg16 image) and run "
            "CREATE EXTENSION vector; as a superuser, then retry.") from None


def ensure_schema(conn, schema: str, dim: int, url: str) -> int:
    """Create or upgrade the tables in `schema` inside the caller's transaction; the version found before."""
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    conn.execute(sql.SQL("SET LOCAL search_path TO {}, public").format(sql.Identifier(schema)))
    version = schema_version(conn, schema) or 0
    _check_not_newer(version, f"PostgreSQL database {describe(url)} (schema {schema})")
    for target in range(version + 1, SCHEMA_VERSION + 1):
        conn.execute(MIGRATIONS[target].format(dim=int(dim)))
        conn.execute("DELETE FROM qa_bot_schema")
        conn.execute("INSERT INTO qa_bot_schema VALUES (%s)", (target,))
    return version


def set_dimension(conn, dim: int) -> None:
    """Re-type the vector columns for a model of another dimension (the tables are empty by then)."""
    conn.execute("DROP INDEX IF EXISTS passages_hnsw")
    for table in ("passages", "paragraphs"):
        conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN embedding TYPE vector({})").format(
            sql.Identifier(table), sql.Literal(int(dim))))


def read_meta(conn) -> dict[str, Any]:
    """The qa_index row as a dict (the engine's manifest)."""
    cur = conn.execute("SELECT * FROM qa_index")
    row = cur.fetchone()
    names = [c.name for c in cur.description]
    return dict(zip(names, row)) if row else {}


def drop_schema(url: str, schema: str) -> None:
    """Delete `schema` with every qa-bot table in it (temporary indexes of evaluations and tests)."""
    from .connect import connect

    with connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
