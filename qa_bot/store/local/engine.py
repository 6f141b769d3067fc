"""The local engine: one index folder (FAISS + SQLite + manifest) on this machine's disk."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ...embed import Embedder
from ...ingest import Document
from ...types import IndexReport
from .build import build_index
from .generations import read_manifest
from .snapshot import LocalSnapshot


class LocalEngine:
    """The embedded default: a folder such as `embeddings/`, for a single server."""

    name = "local"

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)

    def generation(self) -> str:
        return read_manifest(self.index_dir).generation

    def open_snapshot(self, backend: str, model: str) -> LocalSnapshot:
        return LocalSnapshot.open(self.index_dir, backend, model)

    def update(self, documents: Sequence[Document], embedder: Embedder, max_passage_chars: int, *,
               rebuild: bool = False, progress: bool = False, index_type: str = "auto",
               on_stage: Callable[[str], None] | None = None, prune: bool = True) -> IndexReport:
        return build_index(self.index_dir, documents, embedder, max_passage_chars, rebuild=rebuild,
                           progress=progress, index_type=index_type, on_stage=on_stage, prune=prune)
