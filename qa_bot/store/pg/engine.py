"""The PostgreSQL engine behind the store interface (see `..base`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ...embed import Embedder
from ...ingest import Document
from ...settings import Settings
from ...types import IndexReport
from .build import update_index
from .connect import check_schema, check_url
from .snapshot import PgSnapshot, read_meta


class PgEngine:
    """Tables in one schema of a PostgreSQL database; every replica and indexer shares them."""

    name = "postgresql"

    def __init__(self, settings: Settings) -> None:
        check_url(settings.database_url or "")
        check_schema(settings.database_schema)
        self.settings = settings

    def generation(self) -> str:
        return str(read_meta(self.settings)["generation"])

    def open_snapshot(self, backend: str, model: str) -> PgSnapshot:
        return PgSnapshot.open(self.settings, backend, model)

    def update(self, documents: Sequence[Document], embedder: Embedder, max_passage_chars: int, *,
               rebuild: bool = False, progress: bool = False, index_type: str = "auto",
               on_stage: Callable[[str], None] | None = None, prune: bool = True) -> IndexReport:
        """`index_type` is the embedded engine's choice; here it is always pgvector's HNSW."""
        return update_index(self.settings, documents, embedder, max_passage_chars, rebuild=rebuild,
                            progress=progress, on_stage=on_stage, prune=prune)
