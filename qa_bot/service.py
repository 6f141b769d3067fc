"""The one service object every front end uses: settings, model and index loaded once, then
`search`, `index`, `sources` and `reload_if_changed`.

Searches may run from several threads (the bot runs them off its event loop). A reload swaps in a new
retriever in one assignment, so a search in flight finishes on the snapshot it started with.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .embed import Embedder, load_embedder
from .errors import IndexNotFoundError
from .ingest import load_articles
from .retrieve import Retriever
from .settings import Settings, load_settings
from .store import IndexSnapshot, build_index, read_manifest
from .types import Answer, DocumentInfo, IndexReport

log = logging.getLogger(__name__)


class QAService:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._snapshot: IndexSnapshot | None = None
        self._retriever: Retriever | None = None
        self._reload_lock = threading.Lock()

    @classmethod
    def from_settings(cls, build_if_missing: bool = True, **overrides: Any) -> QAService:
        service = cls(load_settings(**overrides))
        service.open(build_if_missing=build_if_missing)
        return service

    # -------------------------------------------------------------- model and index
    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = load_embedder(self.settings)
        return self._embedder

    @property
    def retriever(self) -> Retriever:
        retriever = self._retriever
        if retriever is None or retriever.snapshot is not self.snapshot:
            retriever = self._retriever = Retriever(self.snapshot, self.embedder, self.settings.min_score)
        return retriever

    @property
    def snapshot(self) -> IndexSnapshot:
        if self._snapshot is None:
            self.open(load_model=False)
        assert self._snapshot is not None
        return self._snapshot

    def open(self, build_if_missing: bool = False, on_built: Callable[[IndexReport], None] | None = None,
             load_model: bool = True) -> None:
        """Load the index (and the model, unless `load_model` is False: listing sources needs none);
        with `build_if_missing`, first build it from the articles folder."""
        s = self.settings
        try:
            read_manifest(s.index_dir)
        except IndexNotFoundError:
            if not build_if_missing:
                raise
            report = self.index()
            if on_built is not None:
                on_built(report)
        self._snapshot = IndexSnapshot.open(s.index_dir, s.backend, s.model_name)
        if load_model:
            self._retriever = Retriever(self._snapshot, self.embedder, s.min_score)

    def index(self, paths: Sequence[Path] | None = None, rebuild: bool = False, progress: bool = False,
              on_stage: Callable[[str], None] | None = None, prune: bool | None = None) -> IndexReport:
        """Index the articles under `paths` (default: the articles folder), incrementally. Articles no
        longer there are removed when indexing the articles folder, or with `prune=True`; explicit paths
        otherwise only add and update."""
        s = self.settings
        docs = load_articles(list(paths) if paths else [s.articles_dir])
        report = build_index(s.index_dir, docs, self.embedder, s.max_passage_chars, rebuild=rebuild,
                             progress=progress, on_stage=on_stage,
                             prune=(not paths) if prune is None else prune)
        if self._snapshot is not None:
            self.reload_if_changed()
        return report

    def reload_if_changed(self) -> bool:
        """Switch to a newer index generation on disk, if there is one. True when it switched."""
        with self._reload_lock:
            current = self._snapshot
            manifest = read_manifest(self.settings.index_dir)
            if current is not None and manifest["generation"] == current.generation:
                return False
            s = self.settings
            snapshot = IndexSnapshot.open(s.index_dir, s.backend, s.model_name)
            if self._embedder is not None:  # swap both in one step for searches already running
                self._retriever = Retriever(snapshot, self._embedder, s.min_score)
            self._snapshot = snapshot
            # The old snapshot is not closed: searches in flight may still use it. It closes its database
            # when the last of them lets go of it.
            log.info("loaded index generation %s (%d passages)", snapshot.generation, len(snapshot.vectors))
            return True

    # -------------------------------------------------------------- questions
    def search(self, question: str, k: int | None = None, offset: int = 0, mode: str = "fused") -> Answer:
        """Answer `question` with the `k` best passages (after `offset`), or answered=False."""
        return self.retriever.search(question, k or self.settings.top_k, mode=mode, offset=offset)

    def sources(self) -> list[DocumentInfo]:
        return self.snapshot.documents()

    def info(self) -> dict[str, Any]:
        """Index facts for front ends (health endpoint, /stats, `qa-bot sources`)."""
        m = self.snapshot.manifest
        return {"passages": m["passages"], "documents": m["documents"], "built_at": m["built_at"],
                "generation": m["generation"], "backend": m["backend"], "model": m["model"],
                "index_type": m["index_type"]}
