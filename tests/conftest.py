"""Shared fixtures. Most tests use the deterministic `hash` backend (no model, milliseconds); the tests
marked `slow` load real models shipped by PyPI packages."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from qa_bot.service import QAService
from qa_bot.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"
os.environ.setdefault("PTB_TIMEDELTA", "true")  # as `qa-bot` itself sets it (cli.main)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    """Tests never see the developer's own QA_BOT_* or TELEGRAM_* variables."""
    import os

    for name in list(os.environ):
        if name.startswith(("QA_BOT_", "TELEGRAM_")):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    """A private copy of the seed articles that a test may change."""
    target = tmp_path / "articles"
    shutil.copytree(SEEDS, target)
    return target


def make_service(articles: Path, index_dir: Path, backend: str = "hash", **overrides) -> QAService:
    settings = load_settings(env={}, backend=backend, articles_dir=articles, index_dir=index_dir, **overrides)
    service = QAService(settings)
    service.open(build_if_missing=True)
    return service


@pytest.fixture
def hash_service(articles: Path, tmp_path: Path) -> QAService:
    """A service over the seeds with the hash embedder, built in a temporary index folder."""
    return make_service(articles, tmp_path / "index")


@pytest.fixture(scope="session")
def shared_hash_service(tmp_path_factory) -> QAService:
    """Like hash_service, but built once per test session: for tests that only read."""
    base = tmp_path_factory.mktemp("shared")
    shutil.copytree(SEEDS, base / "articles")
    return make_service(base / "articles", base / "index")


# ------------------------------------------------------------------------------------------ PostgreSQL
@pytest.fixture(scope="session")
def pg_server_url():
    """A PostgreSQL 16 + pgvector server for the session: `QA_BOT_TEST_DATABASE_URL` when set, else a
    throwaway cluster started by pgserver (about a second; stopped and deleted at the end). Its folder
    is outside pytest's (root-only) temporary folder: as root, pgserver runs the server as its own user."""
    import os
    import tempfile

    url = os.environ.get("QA_BOT_TEST_DATABASE_URL")
    if url:
        yield url
        return
    import pgserver

    folder = Path(tempfile.mkdtemp(prefix="qa-bot-test-pg-"))
    server = pgserver.get_server(folder / "data", cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_settings(pg_server_url: str, articles: Path, tmp_path: Path, request):
    """Settings for the PostgreSQL engine in a schema of this test's own (dropped afterwards)."""
    import re
    import uuid

    import psycopg
    from psycopg import sql

    schema = "t_" + re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:6]
    settings = load_settings(env={}, backend="hash", articles_dir=articles, index_dir=tmp_path / "unused",
                             database_url=pg_server_url, database_schema=schema)
    yield settings
    from qa_bot.store.pg.connect import close_pools

    close_pools()
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
