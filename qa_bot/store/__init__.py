"""Where the index lives. `open_snapshot` and `update_index` pick the engine from the settings, so the
service and the retriever never know which one it is (see base.py for the interface)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..embed import Embedder
from ..ingest import Document
from ..settings import Settings
from ..types import IndexInfo, IndexReport
from .base import Engine, PassageRow, Snapshot

__all__ = ["Engine", "IndexInfo", "PassageRow", "Snapshot", "engine_for", "open_snapshot", "update_index"]


def engine_for(settings: Settings) -> Engine:
    """The engine the settings point at: PostgreSQL when QA_BOT_DATABASE_URL is set, else the local
    index folder."""
    if settings.database_url:
        from .pg import PgEngine

        return PgEngine(settings)
    from .local import LocalEngine

    return LocalEngine(settings.index_dir)


def open_snapshot(settings: Settings) -> Snapshot:
    """The current index generation, checked against the configured backend and model."""
    return engine_for(settings).open_snapshot(settings.backend, settings.model_name)


def update_index(settings: Settings, documents: Sequence[Document], embedder: Embedder, *,
                 rebuild: bool = False, progress: bool = False, index_type: str = "auto",
                 on_stage: Callable[[str], None] | None = None, prune: bool = True) -> IndexReport:
    """Bring the configured index up to date with `documents` and publish the new generation."""
    from ..calibration import passage_chars

    return engine_for(settings).update(documents, embedder, passage_chars(settings), rebuild=rebuild,
                                       progress=progress, index_type=index_type, on_stage=on_stage,
                                       prune=prune)
