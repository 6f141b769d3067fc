"""Segments: the immutable parts of the local index. Each update writes one new segment with the
articles it adds or changes (its own SQLite passage store, FAISS index, BM25 postings and granules),
and never touches the files of the others; a generation is a list of segments plus the passages
deleted from them since. Merging segments (a compaction) writes a new one from the live rows of some
old ones, without embedding or analysing any text again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...bm25 import BM25Segment, rows_of
from ...embed import Embedder
from ...errors import IndexCorruptError
from ...granules import Granules
from ...ingest import Document, Passage, split_documents
from .faiss_store import FaissVectorStore

FILES = {"db": "passages-{}.sqlite", "faiss": "vectors-{}.faiss", "bm25": "bm25-{}.npz",
         "granules": "granules-{}.npz"}

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
REBUILD = "Repair it with: qa-bot index"  # it rebuilds a damaged index from the articles
INDEX_TYPES = ("flat", "hnsw")
NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a segment's files are named after it: no path in it
CHECKSUM_RE = re.compile(r"sha256:[0-9a-f]{64}")


def checksum(path: Path) -> str:
    """`sha256:<hex>` of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            digest.update(block)
    return f"sha256:{digest.hexdigest()}"


class Stamps:
    """The checksums an indexer has already computed of this folder's files, each valid while the file
    keeps its size, inode and modification time (kept in `.checksums.json`). With them an update hashes
    the files it writes, not the whole index, and its cost stays in proportion to the change; readers
    still hash every file they load, so damage that keeps all three is caught there."""

    NAME = ".checksums.json"

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        self._known: dict[str, list[Any]] = {}
        with contextlib.suppress(OSError, ValueError):
            data = json.loads((index_dir / self.NAME).read_text("utf-8"))
            if isinstance(data, dict):
                self._known = {k: v for k, v in data.items() if isinstance(v, list) and len(v) == 4}

    @staticmethod
    def _stat(path: Path) -> list[int]:
        st = path.stat()
        return [st.st_size, st.st_ino, st.st_mtime_ns]

    def checksum(self, path: Path) -> str:
        stat = self._stat(path)
        known = self._known.get(path.name)
        if known is not None and known[:3] == stat:
            return str(known[3])
        value = checksum(path)
        self._known[path.name] = [*stat, value]
        return value

    def remember(self, path: Path, value: str) -> None:
        """`value` is the checksum of `path` as it was just written."""
        self._known[path.name] = [*self._stat(path), value]

    def save(self, names: Iterable[str]) -> None:
        """Keep the stamps of `names` (the files in use); a failure only costs hashing next time."""
        wanted = set(names)
        data = {name: v for name, v in self._known.items() if name in wanted}
        tmp = self.index_dir / f"{self.NAME}.{os.getpid()}.tmp"
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps(data), "utf-8")
            os.replace(tmp, self.index_dir / self.NAME)


def verify_file(path: Path, expected: str | None, size: int | None = None, stamps: Stamps | None = None) -> None:
    """Raise IndexCorruptError when `path` is missing, unreadable, or not the size or SHA-256 it was
    written with: damage inside a file (a few random bytes) would otherwise load, then answer wrongly or
    crash at the first search."""
    try:
        actual_size = path.stat().st_size
    except OSError:
        raise IndexCorruptError(f"{path} is missing. {REBUILD}") from None
    if size is not None and actual_size != size and path.is_file():
        raise IndexCorruptError(f"{path} is damaged ({actual_size} bytes, written with {size}). {REBUILD}")
    try:
        actual = (stamps.checksum(path) if stamps else checksum(path)) if expected else None
    except OSError as exc:
        raise IndexCorruptError(f"{path} cannot be read ({exc.strerror or exc}). {REBUILD}") from None
    if actual != expected:
        raise IndexCorruptError(f"{path} is damaged: its checksum does not match the manifest. {REBUILD}")


def _whole(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


@dataclass(frozen=True)
class SegmentInfo:
    """A segment as the manifest records it. Its passage ids are `first_id`..`last_id` (some may be
    deleted since); a later segment's ids are all larger, so an id tells its segment."""

    name: str
    passages: int
    documents: int
    index_type: str
    first_id: int
    last_id: int
    sizes: dict[str, int] = field(default_factory=dict)  # bytes of each file, checked before use
    checksums: dict[str, str] = field(default_factory=dict)  # "sha256:<hex>" of each file, checked on load

    @classmethod
    def from_json(cls, data: Any) -> SegmentInfo:
        """Parse and check one segment entry of the manifest (ValueError names what is wrong)."""
        if not isinstance(data, dict):
            raise ValueError("a segment is not a JSON object")
        info = cls(**data)
        if not isinstance(info.name, str) or not NAME_RE.fullmatch(info.name):
            raise ValueError(f"segment name {info.name!r} is not a plain name (its files are named after it)")
        for field_name, low in (("passages", 0), ("documents", 0), ("first_id", 0), ("last_id", -1)):
            if not _whole(getattr(info, field_name), low):
                raise ValueError(f"segment {info.name}: {field_name} is not a whole number of at least {low}")
        if info.index_type not in INDEX_TYPES:
            raise ValueError(f"segment {info.name}: index_type is {info.index_type!r}, not one of "
                             + ", ".join(INDEX_TYPES))
        if not isinstance(info.sizes, dict) or any(k not in FILES or not _whole(v, 0) for k, v in info.sizes.items()):
            raise ValueError(f"segment {info.name}: sizes are not byte counts of its files")
        if not isinstance(info.checksums, dict) or any(
                k not in FILES or not isinstance(v, str) or not CHECKSUM_RE.fullmatch(v)
                for k, v in info.checksums.items()):
            raise ValueError(f"segment {info.name}: checksums are not sha256:<hex> values of its files")
        return info

    def files(self) -> dict[str, str]:
        return {kind: pattern.format(self.name) for kind, pattern in FILES.items()}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def check_files(self, index_dir: Path, stamps: Stamps | None = None) -> None:
        """Raise IndexCorruptError when a file is missing, unreadable, or not the size and content it was
        written with."""
        for kind, name in self.files().items():
            verify_file(index_dir / name, self.checksums.get(kind), self.sizes.get(kind), stamps)


def connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:  # a segment's store never changes once written
        return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False)
    conn = sqlite3.connect(str(path))
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class SegmentDB:
    """A segment's passage store, opened read-only; one connection shared by all threads under a lock.
    Opened once, it stays readable after a later update has deleted the file."""

    def __init__(self, index_dir: Path, info: SegmentInfo) -> None:
        self.info = info
        self.path = index_dir / info.files()["db"]
        if not self.path.exists():
            raise IndexCorruptError(f"{self.path} is missing. {REBUILD}")
        self._lock = threading.Lock()
        try:
            self._conn: sqlite3.Connection | None = connect(self.path, readonly=True)
        except sqlite3.Error as exc:
            raise IndexCorruptError(f"The passage store {self.path} cannot be opened ({exc}). {REBUILD}") from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            with self._lock:
                if self._conn is None:
                    raise IndexCorruptError(f"The index generation using {self.path} was closed; reload it.")
                return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise IndexCorruptError(f"The passage store {self.path} cannot be read ({exc}). {REBUILD}") from None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class Segment:
    """A segment loaded for searching: its passage store, vectors, BM25 postings and granules."""

    def __init__(self, index_dir: Path, info: SegmentInfo) -> None:
        info.check_files(index_dir)
        files = info.files()
        self.info = info
        self.db = SegmentDB(index_dir, info)
        self.faiss = FaissVectorStore.load(index_dir / files["faiss"], info.index_type)
        self.bm25: BM25Segment | None = BM25Segment.load(index_dir / files["bm25"])  # None once a snapshot took it
        self.granules = Granules.load(index_dir / files["granules"])
        count = self.db.query("SELECT count(*) FROM passages")[0][0]
        if not (count == len(self.faiss) == len(self.bm25) == len(self.granules) == info.passages):
            self.close()
            raise IndexCorruptError(
                f"The index in {index_dir}/ is inconsistent (segment {info.name}: {count} passages in SQLite, "
                f"{len(self.faiss)} vectors, {len(self.bm25)} BM25 rows, manifest says {info.passages}). "
                + REBUILD)

    def close(self) -> None:
        self.db.close()


# ---------------------------------------------------------------------------------- writing

def paragraph_texts(rows: Sequence[tuple]) -> list[str]:
    """BM25 text of each passage: its whole paragraph. A passage split off a long paragraph keeps the
    lexical evidence of its context (the name two sentences earlier); on XQuAD this is worth 3 points
    of German Recall@1 over passage-only text."""
    paragraphs: dict[tuple[str, int], list[str]] = {}
    for _pid, doc_id, para, text, _lang in rows:
        paragraphs.setdefault((doc_id, para), []).append(text)
    return [" ".join(paragraphs[(doc_id, para)]) for _pid, doc_id, para, _text, _lang in rows]


def sentence_vectors(embedder: Embedder, passages: Sequence[Passage], progress: bool
                     ) -> list[np.ndarray | None]:
    """Per-sentence vectors of multi-sentence passages, so highlighting costs no model call at query time."""
    texts: list[str] = []
    counts = np.zeros(len(passages), dtype=np.int64)
    for i, p in enumerate(passages):
        if len(p.sentences) > 1:
            texts.extend(p.text[s:e] for s, e in p.sentences)
            counts[i] = len(p.sentences)
    out: list[np.ndarray | None] = [None] * len(passages)
    if not texts:
        return out
    vectors = np.ascontiguousarray(embedder.encode_passages(texts, progress=progress), dtype=np.float32)
    # Sentences are in passage order: one split, not a scan of all sentences per passage.
    for i, part in enumerate(np.split(vectors, np.cumsum(counts)[:-1])):
        if counts[i]:
            out[i] = part
    return out


def _finish(index_dir: Path, name: str, index_type: str, passages: int, documents: int, first_id: int,
            last_id: int) -> SegmentInfo:
    files = SegmentInfo(name, 0, 0, "", 0, 0).files()
    return SegmentInfo(name=name, passages=passages, documents=documents, index_type=index_type,
                       first_id=first_id, last_id=last_id,
                       sizes={kind: (index_dir / f).stat().st_size for kind, f in files.items()},
                       checksums={kind: checksum(index_dir / f) for kind, f in files.items()})


def write_segment(index_dir: Path, name: str, documents: Sequence[Document], embedder: Embedder,
                  max_chars: int, first_id: int, index_type: str, now: str, progress: bool = False,
                  stage: Callable[[str], None] = lambda _m: None) -> SegmentInfo:
    """Split, embed and index `documents` into the files of a new segment whose ids start at `first_id`."""
    files = SegmentInfo(name, 0, 0, "", 0, 0).files()
    stage(f"Splitting {len(documents)} article(s) into passages")
    passages = split_documents(documents, max_chars, progress)
    stage(f"Embedding {len(passages)} passage(s) with {embedder.model_name}")
    vectors = embedder.encode_passages([p.text for p in passages], progress=progress).reshape(-1, embedder.dim)
    sentences = sentence_vectors(embedder, passages, progress)
    ids = np.arange(first_id, first_id + len(passages), dtype=np.int64)
    conn = connect(index_dir / files["db"], readonly=False)
    try:
        conn.executescript(SCHEMA)
        with conn:
            conn.executemany(
                "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?)",
                [(d.doc_id, d.path, d.title, d.url, d.outlet, d.published, d.lang, d.content_hash, now)
                 for d in documents])
            conn.executemany(
                "INSERT INTO passages VALUES (?,?,?,?,?,?,?,?)",
                [(int(pid), p.doc_id, p.paragraph, p.start, p.end, p.text, p.lang, json.dumps(p.sentences))
                 for pid, p in zip(ids, passages)])
    finally:
        conn.close()
    stage("Building the vector and BM25 indexes")
    store = FaissVectorStore.build(ids, vectors, embedder.dim, index_type)
    store.save(index_dir / files["faiss"])
    rows = [(int(pid), p.doc_id, p.paragraph, p.text, p.lang) for pid, p in zip(ids, passages)]
    BM25Segment.build(ids, paragraph_texts(rows), [p.lang for p in passages]).save(index_dir / files["bm25"])
    Granules.build(ids, vectors, sentences, [(p.doc_id, p.paragraph) for p in passages]
                   ).save(index_dir / files["granules"])
    last = int(ids[-1]) if len(ids) else first_id - 1
    return _finish(index_dir, name, store.index_type, len(passages), len(documents), first_id, last)


def merge_segments(index_dir: Path, name: str, segments: Sequence[Segment], deleted_ids: np.ndarray,
                   deleted_docs: set[tuple[str, str]], dim: int, index_type: str) -> SegmentInfo:
    """One segment with the live rows of `segments` (in order): rows copied, vectors reconstructed,
    postings and granules merged. Nothing is embedded or analysed again."""
    files = SegmentInfo(name, 0, 0, "", 0, 0).files()
    keeps = []
    for seg in segments:
        keep = np.ones(len(seg.granules), dtype=bool)
        keep[rows_of(seg.granules.ids, deleted_ids)] = False
        keeps.append(keep)
    conn = connect(index_dir / files["db"], readonly=False)
    documents = 0
    try:
        conn.executescript(SCHEMA)
        conn.execute("CREATE TEMP TABLE gone (doc_id TEXT PRIMARY KEY)")
        for seg in segments:
            conn.execute("DELETE FROM gone")
            conn.executemany("INSERT INTO gone VALUES (?)",
                             [(doc,) for s, doc in deleted_docs if s == seg.info.name])
            conn.execute("ATTACH DATABASE ? AS part", (str(seg.db.path),))
            with conn:
                conn.execute("INSERT INTO documents SELECT * FROM part.documents "
                             "WHERE doc_id NOT IN (SELECT doc_id FROM gone)")
                conn.execute("INSERT INTO passages SELECT * FROM part.passages "
                             "WHERE doc_id NOT IN (SELECT doc_id FROM gone) ORDER BY id")
            conn.execute("DETACH DATABASE part")
        documents = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    finally:
        conn.close()
    kept_ids = [seg.granules.ids[keep] for seg, keep in zip(segments, keeps)]
    ids = np.concatenate(kept_ids) if kept_ids else np.zeros(0, np.int64)
    vectors = np.concatenate([seg.faiss.vectors(k) for seg, k in zip(segments, kept_ids)]) if kept_ids else \
        np.zeros((0, dim), np.float32)
    store = FaissVectorStore.build(ids, vectors.reshape(-1, dim), dim, index_type)
    store.save(index_dir / files["faiss"])
    postings = [(seg.bm25, keep) for seg, keep in zip(segments, keeps) if seg.bm25 is not None]
    if len(postings) != len(segments):
        raise ValueError("merge_segments needs segments loaded with their BM25 postings")
    BM25Segment.merge(postings).save(index_dir / files["bm25"])
    Granules.merge([(seg.granules, keep) for seg, keep in zip(segments, keeps)]).save(index_dir / files["granules"])
    first = int(ids[0]) if len(ids) else segments[0].info.first_id
    last = int(ids[-1]) if len(ids) else first - 1
    return _finish(index_dir, name, store.index_type, len(ids), documents, first, last)

