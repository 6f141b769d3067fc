"""The local engine's reader: one generation of FAISS + BM25 + granules + SQLite, opened read-only."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...bm25 import BM25Index
from ...errors import IndexCorruptError
from ...granules import Granules
from ...types import DocumentInfo, IndexInfo, Source
from ..base import PassageRow
from .faiss_store import FaissVectorStore
from .generations import Manifest, check_manifest, read_manifest

ROW_CACHE_SIZE = 20_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, path TEXT NOT NULL, title TEXT NOT NULL, url TEXT, outlet TEXT,
    published TEXT, lang TEXT NOT NULL, content_hash TEXT NOT NULL, indexed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
    paragraph INTEGER NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, text TEXT NOT NULL,
    lang TEXT NOT NULL, sentences TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
"""


def connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        conn = sqlite3.connect(str(path))
        conn.execute("PRAGMA foreign_keys = ON")
    return conn


class LocalSnapshot:
    """One generation of the local index, opened read-only. Immutable: a reload makes a new snapshot.

    The components stay reachable (`faiss`, `bm25`, `granules`) for the indexer and for tests of the
    local engine; the retriever only uses the `Snapshot` methods."""

    def __init__(self, index_dir: Path, manifest: Manifest) -> None:
        self.index_dir = Path(index_dir)
        self.manifest = manifest
        files = manifest.files
        db_path = self.index_dir / files["db"]
        if not db_path.exists():
            raise IndexCorruptError(f"{db_path} is missing. Rebuild the index with: qa-bot index --rebuild")
        self.faiss = FaissVectorStore.load(self.index_dir / files["faiss"], manifest.index_type)
        self.bm25 = BM25Index.load(self.index_dir / files["bm25"])
        self.granules = Granules.load(self.index_dir / files["granules"])
        self._db_path = db_path
        # One connection, opened now and shared by all threads under a lock: it keeps the file readable
        # even after a later build has deleted this generation (a reader that is two builds behind).
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = connect(db_path, readonly=True)
        self._row_cache: dict[int, PassageRow] = {}
        count = self.query("SELECT count(*) FROM passages")[0][0]
        expected = manifest.passages
        if not (count == len(self.faiss) == len(self.bm25) == len(self.granules) == expected):
            raise IndexCorruptError(
                f"The index in {self.index_dir}/ is inconsistent ({count} passages in SQLite, "
                f"{len(self.faiss)} vectors, {len(self.bm25)} BM25 rows, manifest says {expected}). "
                "Rebuild it with: qa-bot index --rebuild")
        if self.faiss.dim != manifest.dim:
            raise IndexCorruptError(f"The vector index has dimension {self.faiss.dim}, the manifest "
                                    f"{manifest.dim}. Rebuild it with: qa-bot index --rebuild")

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
        return len(self.faiss)

    # ------------------------------------------------------------------ SQLite
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise IndexCorruptError(f"The index generation in {self.index_dir}/ was closed; reload it.")
        return self._conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows of one read-only query on this generation's passage store."""
        try:
            with self._lock:
                return self._db().execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"The passage store {self._db_path} cannot be read ({exc}). "
                                    "Rebuild the index with: qa-bot index --rebuild") from None

    def backup_to(self, conn: sqlite3.Connection) -> None:
        """Copy this generation's passage store into `conn` (the start of the next generation)."""
        with self._lock:
            self._db().backup(conn)

    def passages(self, ids: Sequence[int]) -> dict[int, PassageRow]:
        """Rows of `ids`, cached: a snapshot never changes, and popular passages come back often."""
        cache = self._row_cache
        out = {}
        for i in ids:
            row = cache.get(int(i))
            if row is not None:
                out[int(i)] = row
        missing = [int(i) for i in ids if int(i) not in out]
        if missing:
            fetched = self._fetch(missing)
            if len(cache) > ROW_CACHE_SIZE:
                self._row_cache = {}  # replaced, not cleared: other threads keep reading the old one
            self._row_cache.update(fetched)
            out.update(fetched)
        return out

    def _fetch(self, ids: Sequence[int]) -> dict[int, PassageRow]:
        marks = ",".join("?" * len(ids))
        rows = self.query(
            f"""SELECT p.id, p.text, p.sentences, p.paragraph, d.doc_id, d.title, d.path,
                       d.url, d.outlet, d.published
                FROM passages p JOIN documents d USING (doc_id) WHERE p.id IN ({marks})""",
            [int(i) for i in ids])
        out = {}
        for pid, text, sents, para, doc_id, title, path, url, outlet, published in rows:
            out[pid] = PassageRow(pid, text, [(int(s), int(e)) for s, e in json.loads(sents)],
                                  Source(doc_id, title, para, path, url, outlet, published))
        return out

    def passage_ids(self) -> np.ndarray:
        return self.granules.ids.copy()

    def documents(self) -> list[DocumentInfo]:
        rows = self.query(
            """SELECT d.doc_id, d.title, d.path, d.url, d.outlet, d.published, count(p.id)
               FROM documents d LEFT JOIN passages p USING (doc_id) GROUP BY d.doc_id ORDER BY d.doc_id""")
        return [DocumentInfo(*row) for row in rows]

    # ------------------------------------------------------------------ dense
    def dense_search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.faiss.search(query, k)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self.faiss.vectors(ids)

    def dense_scores(self, ids: np.ndarray, vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
        return self.granules.dense_scores(ids, vectors, query)

    def sentence_vectors(self, pid: int) -> np.ndarray | None:
        return self.granules.sentence_vectors(pid)

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
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
