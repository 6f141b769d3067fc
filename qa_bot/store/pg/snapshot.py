"""Reading the PostgreSQL engine: the same parts the retriever uses from the embedded index (vectors,
BM25, sentence and paragraph vectors, passage rows), answered by SQL.

A search costs one statement (`candidates`): the HNSW neighbours, the BM25 top passages, the BM25
statistics and every candidate's row with its vectors, from one MVCC snapshot: the committed corpus
before an index update or after it, never half of each. Rows are immutable and ids never reused (see
`schema`): the rows a search fetched serve its later steps (scores, highlights) without another query.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...bm25 import K1, B, question_terms
from ...errors import DatabaseError, IndexCorruptError, IndexMismatchError, IndexNotFoundError
from ...granules import Granules
from ...settings import Settings
from ...translit import NameMatcher
from ...types import DocumentInfo, IndexInfo, Source
from ..base import PassageRow
from ..local.faiss_store import HNSW_EF_SEARCH
from . import schema as s
from .connect import describe, pool, redact

INDEX_TYPE = "hnsw"  # pgvector

ROW_COLUMNS = """p.id, p.text, p.sentences, p.paragraph, p.paragraph_id, p.embedding, p.sentence_vectors,
                 g.embedding, d.doc_id, d.title, d.path, d.url, d.outlet, d.published"""
ROW_JOINS = """FROM passages p JOIN paragraphs g ON g.id = p.paragraph_id JOIN documents d ON d.doc_id = p.doc_id"""
# Dense neighbours (HNSW) and BM25 top passages (postings, the embedded engine's formula), with the rows
# of both: one statement, so one snapshot of the corpus.
CANDIDATES = f"""
WITH stats AS (SELECT passages AS n, greatest(total_length::float8 / greatest(passages, 1), 1e-9) AS avgdl
               FROM qa_index),
     q AS (SELECT t.id, ln(1 + ((SELECT n FROM stats) - t.df + 0.5::float8) / (t.df + 0.5::float8)) AS idf
           FROM terms t WHERE t.term = ANY(%(terms)s) AND t.df > 0),
     dense AS (SELECT id, -(embedding <#> %(q)s) AS score FROM passages
               ORDER BY embedding <#> %(q)s LIMIT %(kd)s),
     lex AS (SELECT o.passage_id AS id,
                    sum(q.idf * o.tf * %(k1p1)s / (o.tf + %(k1)s * (1 - %(b)s + %(b)s * o.length
                        / (SELECT avgdl FROM stats)))) AS score
             FROM postings o JOIN q ON o.term_id = q.id
             GROUP BY o.passage_id ORDER BY score DESC, o.passage_id LIMIT %(kl)s),
     cand AS (SELECT coalesce(dense.id, lex.id) AS id, dense.score AS dscore, lex.score AS lscore
              FROM dense FULL JOIN lex ON dense.id = lex.id)
SELECT c.id, c.dscore, c.lscore, (SELECT n FROM stats), (SELECT coalesce(sum(idf), 0) FROM q),
       (SELECT count(*) FROM q), {ROW_COLUMNS}
{ROW_JOINS} JOIN cand c ON c.id = p.id"""


def _configure(conn) -> None:
    """Per pooled connection (autocommit at this point): the vector type, and the HNSW search breadth."""
    from pgvector.psycopg import register_vector

    register_vector(conn)
    conn.execute(f"SET hnsw.ef_search = {HNSW_EF_SEARCH}")


def read_meta(settings: Settings) -> dict[str, Any]:
    """The committed index facts (the qa_index row): cheap enough to poll for hot reload."""
    import psycopg

    url, schema = settings.database_url or "", settings.database_schema
    try:
        with pool(url, schema, "write").connection() as conn:
            s.check_readable(conn, schema, url)
            meta = s.read_meta(conn)
    except psycopg.Error as exc:
        raise db_error(exc, url) from None
    if not meta.get("model"):
        raise IndexNotFoundError(f"There is no index in the PostgreSQL database {describe(url)} (schema "
                                 f"{schema}) yet. Build it with: qa-bot index")
    return meta


def index_info(meta: dict[str, Any]) -> IndexInfo:
    built = meta.get("built_at")
    return IndexInfo(engine="postgresql", generation=str(meta["generation"]), backend=meta["backend"],
                     model=meta["model"], dim=int(meta["dim"]), index_type=INDEX_TYPE,
                     passages=int(meta["passages"]), documents=int(meta["documents"]),
                     built_at=built.strftime("%Y-%m-%dT%H:%M:%SZ") if built else "")


def db_error(exc: Exception, url: str) -> DatabaseError:
    reason = (getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc) or type(exc).__name__)
    return DatabaseError(redact(f"The PostgreSQL database {describe(url)} failed ({reason.strip().splitlines()[0]}). "
                                "Check that it is running; the next question tries again.", url))


@dataclass(frozen=True)
class _Row:
    """A passage row with its vectors (rows never change once written)."""

    row: PassageRow
    vector: np.ndarray
    sentence_vectors: np.ndarray | None
    paragraph_id: int
    paragraph_vector: np.ndarray


class PgSnapshot:
    """The index in PostgreSQL as the retriever sees it. `info` is what was committed when it was
    opened; each search reads the corpus committed at its own moment, in one statement (`candidates`)."""

    def __init__(self, settings: Settings, meta: dict[str, Any]) -> None:
        self.url, self.schema = settings.database_url or "", settings.database_schema
        self.meta = meta
        self._info = index_info(meta)
        self.where = f"PostgreSQL database {describe(self.url)} (schema {self.schema})"
        self._pool = pool(self.url, self.schema, "read", configure=_configure)
        self._local = threading.local()
        self._langs = tuple(meta["langs"])
        self._terms_cache: dict[str, tuple[str, ...]] = {}
        self._terms_lock = threading.Lock()
        self._names: NameMatcher | None = None

    @classmethod
    def open(cls, settings: Settings, backend: str, model: str) -> PgSnapshot:
        meta = read_meta(settings)
        where = f"the PostgreSQL database {describe(settings.database_url or '')} (schema {settings.database_schema})"
        if meta["backend"] != backend or meta["model"] != model:
            raise IndexMismatchError(
                f"The index in {where} was built with {meta['backend']} model {meta['model']!r} "
                f"({meta['dim']} dimensions), but the configured one is {backend} model {model!r}. Re-index "
                "with: qa-bot index --rebuild  (or set QA_BOT_BACKEND/QA_BOT_MODEL to match the index)")
        return cls(settings, meta)

    @property
    def info(self) -> IndexInfo:
        return self._info

    @property
    def generation(self) -> str:
        return self._info.generation

    @property
    def langs(self) -> tuple[str, ...]:
        return self._langs

    def __len__(self) -> int:
        return self._info.passages

    # ------------------------------------------------------------------ queries
    def _query(self, query: str, params: Sequence[Any] | dict[str, Any] = (), binary: bool = False) -> list[tuple]:
        import psycopg

        try:
            with self._pool.connection() as conn:
                return conn.execute(query, params, binary=binary).fetchall()
        except psycopg.errors.UndefinedTable:
            raise IndexNotFoundError(f"The index tables in the {self.where} are gone. Build them with: "
                                     "qa-bot index") from None
        except psycopg.Error as exc:
            raise db_error(exc, self.url) from None

    def candidates(self, query: str, qvec: np.ndarray, k: int, dense: bool = True, lexical: bool = True
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dense ids best first, BM25 ids best first, their scores normalised by the question's ideal
        score), every candidate's row kept for the rest of this thread's search: one statement."""
        terms = self.query_terms(query) if lexical else []
        q = np.ascontiguousarray(qvec, dtype=np.float32).reshape(-1)
        rows = self._query(CANDIDATES, {"q": q, "kd": k if dense else 0, "kl": k if terms else 0,
                                        "terms": terms, "k1p1": K1 + 1, "k1": K1, "b": B}, binary=True)
        self._local.rows = self._rows_of([r[6:] for r in rows])
        dense_part = sorted((r for r in rows if r[1] is not None), key=lambda r: (-r[1], r[0]))
        lex_part = sorted((r for r in rows if r[2] is not None), key=lambda r: (-r[2], r[0]))
        n = int(rows[0][3]) if rows else len(self)
        known_idf, known = (float(rows[0][4]), int(rows[0][5])) if rows else (0.0, 0)
        ideal = known_idf + float(np.log(1 + (n + 0.5) / 0.5)) * (len(terms) - known)
        return (np.array([r[0] for r in dense_part], dtype=np.int64),
                np.array([r[0] for r in lex_part], dtype=np.int64),
                np.array([r[2] for r in lex_part], dtype=np.float32) / max(ideal, 1e-9))

    def _rows(self, ids: Sequence[int]) -> dict[int, _Row]:
        """Rows of `ids`: those fetched by this thread's last `candidates` call (the search in progress),
        the others by one more statement."""
        current = getattr(self._local, "rows", None) or {}
        out = {int(i): current[int(i)] for i in ids if int(i) in current}
        missing = [int(i) for i in ids if int(i) not in out]
        if missing:
            out.update(self._rows_of(self._query(f"SELECT {ROW_COLUMNS} {ROW_JOINS} WHERE p.id = ANY(%s)",
                                                 (missing,), binary=True)))
        absent = [int(i) for i in ids if int(i) not in out]
        if absent:
            raise IndexCorruptError(f"Passages {absent[:3]} are no longer in the {self.where}: the index changed "
                                    "meanwhile. Ask again.")
        return out

    def _rows_of(self, rows: Sequence[Sequence[Any]]) -> dict[int, _Row]:
        dim = self._info.dim
        out = {}
        for pid, text, sents, para, para_id, vec, svecs, pvec, doc_id, title, path, url, outlet, pub in rows:
            sentences = [(int(a), int(b)) for a, b in (sents if isinstance(sents, list) else json.loads(sents))]
            sv = None if svecs is None else np.frombuffer(bytes(svecs), dtype="<f2").reshape(-1, dim).astype(np.float32)
            row = PassageRow(pid, text, sentences, Source(doc_id, title, para, path, url, outlet, pub))
            out[pid] = _Row(row, _array(vec), sv, int(para_id), _array(pvec))
        return out

    # ------------------------------------------------------------------ passages and articles
    def passages(self, ids: Sequence[int]) -> dict[int, PassageRow]:
        return {pid: r.row for pid, r in self._rows(ids).items()}

    def passage_ids(self) -> np.ndarray:
        return np.array([r[0] for r in self._query("SELECT id FROM passages ORDER BY id")], dtype=np.int64)

    def documents(self) -> list[DocumentInfo]:
        rows = self._query("""SELECT d.doc_id, d.title, d.path, d.url, d.outlet, d.published, count(p.id)
                              FROM documents d LEFT JOIN passages p USING (doc_id) GROUP BY d.doc_id
                              ORDER BY d.doc_id""")
        return [DocumentInfo(*row) for row in rows]

    # ------------------------------------------------------------------ dense
    def dense_search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the k nearest passages by inner product, through the HNSW index."""
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        rows = self._query("SELECT id, -(embedding <#> %s) FROM passages ORDER BY embedding <#> %s LIMIT %s",
                           (q, q, int(k)), binary=True)
        return np.array([r[1] for r in rows], dtype=np.float32), np.array([r[0] for r in rows], dtype=np.int64)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        if len(ids) == 0:
            return np.zeros((0, self._info.dim), dtype=np.float32)
        rows = self._rows([int(i) for i in ids])
        return np.stack([rows[int(i)].vector for i in ids])

    def dense_scores(self, ids: np.ndarray, vectors: np.ndarray, query: np.ndarray,
                     weights: tuple[float, float, float] | None = None) -> np.ndarray:
        """The blended score of `granules.Granules`, over the candidates' sentence and paragraph vectors."""
        rows = self._rows([int(i) for i in ids])
        sorted_ids = np.sort(np.asarray(ids, dtype=np.int64))
        para_keys: dict[int, int] = {}
        para_of = np.array([para_keys.setdefault(rows[int(i)].paragraph_id, len(para_keys)) for i in sorted_ids],
                           dtype=np.int64)
        para_vecs = np.zeros((len(para_keys), vectors.shape[1]), dtype=np.float32)
        for i in sorted_ids:
            para_vecs[para_keys[rows[int(i)].paragraph_id]] = rows[int(i)].paragraph_vector
        sents = [rows[int(i)].sentence_vectors for i in sorted_ids]
        sent_ptr = np.zeros(len(sorted_ids) + 1, dtype=np.int64)
        sent_ptr[1:] = np.cumsum([0 if sv is None else len(sv) for sv in sents])
        present = [sv for sv in sents if sv is not None and len(sv)]
        sent_vecs = np.concatenate(present) if present else np.zeros((0, vectors.shape[1]), np.float32)
        return Granules(sorted_ids, sent_ptr, sent_vecs, para_of, para_vecs).dense_scores(ids, vectors, query,
                                                                                          weights)

    def sentence_vectors(self, pid: int) -> np.ndarray | None:
        return self._rows([int(pid)])[int(pid)].sentence_vectors

    # ------------------------------------------------------------------ lexical
    def lexical_top(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        _, ids, scores = self.candidates(query, np.zeros(self._info.dim, np.float32), k, dense=False)
        return ids, scores

    def query_terms(self, query: str) -> list[str]:
        """The embedded engine's question analysis (`bm25.question_terms`), names matched in SQL."""
        cached = self._terms_cache.get(query)
        if cached is None:
            cached = tuple(question_terms(query, self._langs, self._match_name))
            with self._terms_lock:
                if len(self._terms_cache) >= 256:
                    self._terms_cache.pop(next(iter(self._terms_cache)), None)
                self._terms_cache[query] = cached
        return list(cached)

    def _match_name(self, word: str) -> str | None:
        """The embedded engine's `translit.NameMatcher` over this generation's vocabulary, loaded from the
        terms table on the first Cyrillic word (only asked when the corpus has no Russian)."""
        if self._names is None:
            from ...lang import stemmer

            terms = sorted(r[0] for r in self._query("SELECT term FROM terms WHERE df > 0"))
            stem = stemmer(self._langs[0]) if len(self._langs) == 1 else None
            self._names = NameMatcher(terms, stem.stemWord if stem is not None else None)
        return self._names.match(word)

    def close(self) -> None:
        """Nothing to release: the connection pool belongs to the process (shared by reloads)."""


def _array(value: Any) -> np.ndarray:
    """A pgvector value as float32 (the binary loader gives `Vector` objects)."""
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)
