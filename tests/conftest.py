"""Shared fixtures. Most tests use the deterministic `hash` backend (no model, milliseconds); the tests
marked `slow` load real models shipped by PyPI packages."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa_bot.service import QAService
from qa_bot.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED = ROOT.parent / "shared"


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
