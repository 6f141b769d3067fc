"""The one service object every front end uses: settings, model and index loaded once, then
`search`, `index`, `sources` and `reload_if_changed`.

Searches may run from several threads (the bot runs them off its event loop). The index generation in
use and the retriever over it are one immutable pair, replaced in one assignment: a search reads the
pair once and finishes on the snapshot it started with, and no search ever pairs a new snapshot with
an old retriever or the other way round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .embed import Embedder, load_embedder
from .errors import IndexNotFoundError, QABotError
from .ingest import has_text, load_articles
from .retrieve import Retriever
from .settings import Settings, load_settings
from .store import Snapshot, engine_for, open_snapshot, update_index
from .types import Answer, DocumentInfo, IndexInfo, IndexReport

if TYPE_CHECKING:
    from .news.collect import Collected

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Loaded:
    snapshot: Snapshot
    retriever: Retriever | None  # None until the model is needed (listing sources needs none)


class QAService:
    """The model, the index generation in use and the settings, behind the calls front ends make.

    Thread-safe for searches; `index` and `reload_if_changed` may run beside them."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self._embedder = embedder
        self._state: _Loaded | None = None
        self._lock = threading.Lock()  # serialises loading and reloading, never searches

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

    def _loaded(self) -> _Loaded:
        state = self._state
        if state is None:
            self.open(load_model=False)
            state = self._state
            assert state is not None
        return state

    @property
    def snapshot(self) -> Snapshot:
        return self._loaded().snapshot

    @property
    def retriever(self) -> Retriever:
        state = self._loaded()
        if state.retriever is not None:
            return state.retriever
        with self._lock:
            current = self._state
            assert current is not None
            if current.retriever is None:
                current = self._state = _Loaded(current.snapshot, self._new_retriever(current.snapshot))
        assert current.retriever is not None
        return current.retriever

    def _new_retriever(self, snapshot: Snapshot) -> Retriever:
        return Retriever(snapshot, self.embedder, self.settings.min_score)

    def open(self, build_if_missing: bool = False, on_built: Callable[[IndexReport], None] | None = None,
             load_model: bool = True) -> None:
        """Load the index (and the model, unless `load_model` is False: listing sources needs none);
        with `build_if_missing`, first build it from the articles folder."""
        try:
            engine_for(self.settings).generation()
        except IndexNotFoundError:
            if not build_if_missing:
                raise
            report = self.index()
            if on_built is not None:
                on_built(report)
        snapshot = open_snapshot(self.settings)
        retriever = self._new_retriever(snapshot) if load_model else None
        with self._lock:
            self._state = _Loaded(snapshot, retriever)

    def index(self, paths: Sequence[Path] | None = None, rebuild: bool = False, progress: bool = False,
              on_stage: Callable[[str], None] | None = None, prune: bool | None = None) -> IndexReport:
        """Index the articles under `paths` (default: the articles folder), incrementally. Articles no
        longer there are removed when indexing the articles folder, or with `prune=True`; explicit paths
        otherwise only add and update."""
        s = self.settings
        docs = load_articles(list(paths) if paths else [s.articles_dir], articles_root=s.articles_dir,
                             progress=progress)
        report = update_index(s, docs, self.embedder, rebuild=rebuild, progress=progress, on_stage=on_stage,
                              prune=(not paths) if prune is None else prune)
        new = set(report.added) | set(report.changed)
        report.empty = [d.path or d.doc_id for d in docs if d.doc_id in new and not has_text(d)]
        if self._state is not None:
            self.reload_if_changed()
        return report

    def add_sources(self, inputs: Sequence[str], refresh_feeds: bool = False, progress: bool = False,
                    on_stage: Callable[[str], None] | None = None, fetcher: Callable[..., Any] | None = None,
                    rebuild: bool = False, prune: bool | None = None) -> tuple[Collected, IndexReport]:
        """Add news sources and index them: `inputs` are http(s) URLs (web pages, PDFs, RSS/Atom feeds),
        feed files (.rss/.atom/.xml) and article files or folders. Fetched articles are saved in the
        articles folder (see `qa_bot.news.collect`). With no inputs, the whole articles folder is indexed
        (articles no longer there are removed); with `refresh_feeds`, the subscribed feeds' new items are
        fetched first. A feed item that fails is reported in `Collected.problems`, not raised."""
        from .news.collect import Collected, Collector, is_url

        collector = Collector(self.settings.articles_dir, self.settings.max_source_mb * 1024 * 1024,
                              progress=progress, **({"fetcher": fetcher} if fetcher else {}))
        collected = Collected()
        local: list[Path] = []
        stage = on_stage or (lambda _msg: None)
        if refresh_feeds:
            for feed in self.settings.feeds:  # QA_BOT_FEEDS: subscribed on first sight
                if feed not in collector.registry.feeds():
                    stage(f"Subscribing to {feed}")
                    try:
                        collected.merge(collector.add_url(feed))
                    except QABotError as exc:
                        collected.problems.append(f"feed {feed}: {exc}")
        if refresh_feeds and collector.registry.feeds():
            stage(f"Fetching new items of {len(collector.registry.feeds())} feed(s)")
            collected.merge(collector.refresh_feeds())
        for item in inputs:
            if is_url(item):
                stage(f"Fetching {item}")
                collected.merge(collector.add_url(item))
            elif Path(item).is_file() and Path(item).suffix.lower() in (".rss", ".atom", ".xml"):
                stage(f"Reading the feed {item}")
                collected.merge(collector.add_feed_file(Path(item)))
            else:
                local.append(Path(item))
        if not inputs:
            return collected, self.index(rebuild=rebuild, progress=progress, on_stage=on_stage)
        paths = local + collected.paths
        if not paths and not rebuild:  # every feed item was seen before: nothing new to index
            return collected, self._unchanged_report()
        return collected, self.index(paths or None, rebuild=rebuild, progress=progress, on_stage=on_stage,
                                     prune=prune)

    def add_upload(self, name: str, data: bytes, progress: bool = False) -> tuple[Collected, IndexReport]:
        """An uploaded document (HTML, PDF, TXT, MD; at most `max_source_mb`), saved into the articles
        folder's `uploads/` and indexed."""
        from .news.collect import Collector

        collector = Collector(self.settings.articles_dir, self.settings.max_source_mb * 1024 * 1024)
        collected = collector.add_upload(name, data)
        return collected, self.index(collected.paths, progress=progress)

    def _unchanged_report(self) -> IndexReport:
        try:
            info, docs = self.info(), self.sources()
        except QABotError:
            return IndexReport()
        return IndexReport(unchanged=[d.doc_id for d in docs], passages_total=info.passages,
                           index_type=info.index_type)

    def reload_if_changed(self) -> bool:
        """Switch to a newer index generation, if there is one. True when it switched."""
        with self._lock:
            current = self._state
            if current is not None and engine_for(self.settings).generation() == current.snapshot.generation:
                return False
            snapshot = open_snapshot(self.settings)
            retriever = self._new_retriever(snapshot) if self._embedder is not None else None
            self._state = _Loaded(snapshot, retriever)  # the one step searches can observe
            # The old snapshot is not closed: searches in flight may still use it. It closes its database
            # when the last of them lets go of it.
            log.info("loaded index generation %s (%d passages)", snapshot.generation, len(snapshot))
            return True

    # -------------------------------------------------------------- questions
    def search(self, question: str, k: int | None = None, offset: int = 0, mode: str = "fused") -> Answer:
        """Answer `question` with the `k` best passages (after `offset`), or answered=False."""
        return self.retriever.search(question, k or self.settings.top_k, mode=mode, offset=offset)

    def sources(self) -> list[DocumentInfo]:
        return self.snapshot.documents()

    def info(self) -> IndexInfo:
        """Index facts for front ends (health endpoint, /stats, `qa-bot sources`)."""
        return self.snapshot.info
