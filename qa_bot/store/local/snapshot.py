"""The local engine's reader: one generation (its segments and deletions), opened read-only."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...bm25 import BM25Index
from ...errors import IndexCorruptError
from ...types import DocumentInfo, IndexInfo, Source
from ..base import PassageRow
from .faiss_store import Exclusion
from .generations import Deleted, Manifest, check_manifest, read_manifest
from .segment import REBUILD, Segment

ROW_CACHE_SIZE = 20_000


class LocalSnapshot:
    """One generation of the local index, opened read-only. Immutable: a reload makes a new snapshot.

    Searches run over every segment and are merged; deleted passages are filtered out (FAISS through
    an id selector, BM25 through a row mask). `segments` and `bm25` stay reachable for tests of the
    local engine; the retriever only uses the `Snapshot` methods."""

    def __init__(self, index_dir: Path, manifest: Manifest) -> None:
        self.index_dir = Path(index_dir)
        self.manifest = manifest
        self.deleted = Deleted.load(self.index_dir, manifest)
        self.segments: list[Segment] = []
        try:
            for info in manifest.segments:
                self.segments.append(Segment(self.index_dir, info))
        except BaseException:
            self.close()
            raise
        self._first_ids = np.array([s.info.first_id for s in self.segments], dtype=np.int64)
        self._exclusions: list[Exclusion | None] = []
        for seg in self.segments:
            gone = self.deleted.passage_ids[(self.deleted.passage_ids >= seg.info.first_id)
                                            & (self.deleted.passage_ids <= seg.info.last_id)]
            self._exclusions.append(Exclusion(gone) if len(gone) else None)
        self.bm25 = BM25Index([s.bm25 for s in self.segments if s.bm25 is not None], self.deleted.passage_ids)
        for seg in self.segments:
            seg.bm25 = None  # the index above holds what queries need; the raw frequencies can go
        live = sum(len(s.granules) for s in self.segments) - len(self.deleted)
        if live != manifest.passages or len(self.bm25) != live:
            raise IndexCorruptError(f"The index in {self.index_dir}/ is inconsistent ({live} live passages in "
                                    f"its segments, manifest says {manifest.passages}). {REBUILD}")
        for seg in self.segments:
            if seg.faiss.dim != manifest.dim:
                raise IndexCorruptError(f"The vector index has dimension {seg.faiss.dim}, the manifest "
                                        f"{manifest.dim}. {REBUILD}")
        self._row_cache: dict[int, PassageRow] = {}

    @classmethod
    def open(cls, index_dir: Path, backend: str, model: str) -> LocalSnapshot:
        manifest = read_manifest(index_dir)
        check_manifest(manifest, backend, model, Path(index_dir))
        return cls(index_dir, manifest)

    @property
    def info(self) -> IndexInfo:
        return self.manifest.info()

    @property
    def generation(self) -> str:
        return self.manifest.generation

    @property
    def langs(self) -> tuple[str, ...]:
        return self.bm25.langs

    def __len__(self) -> int:
        return self.manifest.passages

    def _segment_of(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._first_ids, ids, side="right") - 1

    def _by_segment(self, ids: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """(segment number, positions in `ids`) for each segment holding some of `ids`."""
        which = self._segment_of(ids)
        return [(int(s), np.flatnonzero(which == s)) for s in np.unique(which)]

    # ------------------------------------------------------------------ passages and articles
    def passages(self, ids: Sequence[int]) -> dict[int, PassageRow]:
        """Rows of `ids`, cached: a snapshot never changes, and popular passages come back often."""
        cache = self._row_cache
        out = {}
        for i in ids:
            row = cache.get(int(i))
            if row is not None:
                out[int(i)] = row
        missing = np.array([int(i) for i in ids if int(i) not in out], dtype=np.int64)
        if len(missing):
            fetched: dict[int, PassageRow] = {}
            for seg, pos in self._by_segment(missing):
                fetched.update(self._fetch(self.segments[seg], missing[pos].tolist()))
            if len(cache) > ROW_CACHE_SIZE:
                self._row_cache = {}  # replaced, not cleared: other threads keep reading the old one
            self._row_cache.update(fetched)
            out.update(fetched)
        return out

    @staticmethod
    def _fetch(segment: Segment, ids: list[int]) -> dict[int, PassageRow]:
        marks = ",".join("?" * len(ids))
        rows = segment.db.query(
            f"""SELECT p.id, p.text, p.sentences, p.paragraph, d.doc_id, d.title, d.path,
                       d.url, d.outlet, d.published
                FROM passages p JOIN documents d USING (doc_id) WHERE p.id IN ({marks})""", ids)
        out = {}
        for pid, text, sents, para, doc_id, title, path, url, outlet, published in rows:
            out[pid] = PassageRow(pid, text, [(int(s), int(e)) for s, e in json.loads(sents)],
                                  Source(doc_id, title, para, path, url, outlet, published))
        return out

    def passage_ids(self) -> np.ndarray:
        ids = np.concatenate([s.granules.ids for s in self.segments]) if self.segments else np.zeros(0, np.int64)
        return np.setdiff1d(ids, self.deleted.passage_ids, assume_unique=True)

    def documents(self) -> list[DocumentInfo]:
        out = []
        for seg in self.segments:
            rows = seg.db.query(
                """SELECT d.doc_id, d.title, d.path, d.url, d.outlet, d.published, count(p.id)
                   FROM documents d LEFT JOIN passages p USING (doc_id) GROUP BY d.doc_id""")
            out += [DocumentInfo(*row) for row in rows if (seg.info.name, row[0]) not in self.deleted.documents]
        return sorted(out, key=lambda d: d.doc_id)

    def document_hashes(self) -> dict[str, tuple[str, str]]:
        """doc_id -> (segment name, content hash) of every live article."""
        out = {}
        for seg in self.segments:
            for doc_id, content_hash in seg.db.query("SELECT doc_id, content_hash FROM documents"):
                if (seg.info.name, doc_id) not in self.deleted.documents:
                    out[doc_id] = (seg.info.name, content_hash)
        return out

    # ------------------------------------------------------------------ dense
    def dense_search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        parts = [seg.faiss.search(query, k, exclude)
                 for seg, exclude in zip(self.segments, self._exclusions) if len(seg.faiss)]
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return np.full(1, -np.inf, dtype=np.float32), np.full(1, -1, dtype=np.int64)
        scores = np.concatenate([p[0] for p in parts])
        ids = np.concatenate([p[1] for p in parts])
        order = np.argsort(-scores, kind="stable")[:k]
        return scores[order], ids[order]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        out = np.zeros((len(ids), self.manifest.dim), dtype=np.float32)
        for seg, pos in self._by_segment(ids):
            out[pos] = self.segments[seg].faiss.vectors(ids[pos])
        return out

    def dense_scores(self, ids: np.ndarray, vectors: np.ndarray, query: np.ndarray,
                     weights: tuple[float, float, float] | None = None) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        if len(self.segments) == 1:
            return self.segments[0].granules.dense_scores(ids, vectors, query, weights)
        out = np.zeros(len(ids), dtype=np.float32)
        for seg, pos in self._by_segment(ids):
            out[pos] = self.segments[seg].granules.dense_scores(ids[pos], vectors[pos], query, weights)
        return out

    def sentence_vectors(self, pid: int) -> np.ndarray | None:
        seg = int(self._segment_of(np.array([pid]))[0])
        return self.segments[seg].granules.sentence_vectors(pid)

    def candidates(self, query: str, qvec: np.ndarray, k: int, dense: bool = True, lexical: bool = True
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        none = np.zeros(0, dtype=np.int64)
        dense_ids = self.dense_search(qvec, k)[1] if dense else none
        lexical_ids, scores = self.lexical_top(query, k) if lexical else (none, none.astype(np.float32))
        return dense_ids, lexical_ids, scores

    # ------------------------------------------------------------------ lexical
    def lexical_top(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids, scores, _ideal = self.bm25.top(query, k)
        return ids, scores

    def query_terms(self, query: str) -> list[str]:
        return self.bm25.query_terms(query)

    def close(self) -> None:
        for seg in self.segments:
            seg.close()
