"""`qa-bot index` into PostgreSQL: one transaction per update, under an advisory lock.

Only new and changed articles are split and embedded; removed and changed ones are deleted with their
passages, vectors and postings (the BM25 document frequencies are decremented, not recomputed). The
pgvector HNSW index is maintained by PostgreSQL on insert; a first build (or `--rebuild`) creates it
after loading the rows, which is several times faster. Readers keep seeing the previous corpus until the
commit, and then the new one: never a mixture.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ...embed import Embedder
from ...errors import QABotError
from ...ingest import Document, Passage, split_documents
from ...lang import analyze
from ...settings import Settings
from ...types import IndexReport
from ..local.faiss_store import HNSW_EF_CONSTRUCTION, HNSW_M
from . import schema as s
from .connect import connect, describe


@dataclass
class NewPassages:
    """Rows to insert: passages with their vectors, in id order."""

    passages: Sequence[Passage]
    vectors: np.ndarray  # (n, dim) float32, normalised
    sentence_vectors: Sequence[np.ndarray | None]


def update_index(settings: Settings, documents: Sequence[Document], embedder: Embedder, max_chars: int,
                 rebuild: bool = False, progress: bool = False, on_stage: Callable[[str], None] | None = None,
                 prune: bool = True) -> IndexReport:
    """Bring the database up to date with `documents` (what `store.base.Engine.update` promises)."""
    from ..local.segment import sentence_vectors as _sentence_vectors

    started = time.perf_counter()
    stage = on_stage or (lambda _msg: None)
    url, schema = settings.database_url or "", settings.database_schema
    conn = connect(url, autocommit=True)  # transactions are explicit: `with conn.transaction()`
    try:
        s.ensure_vector_extension(conn, url)
        with conn.transaction():
            begin(conn, schema, embedder.dim, url)
            meta = s.read_meta(conn)
            reusable = (not rebuild and meta.get("backend") == embedder.backend
                        and meta.get("model") == embedder.model_name and meta.get("dim") == embedder.dim
                        and meta.get("max_passage_chars") == max_chars)
            if not reusable:
                clear(conn, embedder.dim, meta.get("dim"))
            report = _diff(conn, documents, prune)
            if not report.modified and reusable:
                report.passages_total = int(meta["passages"])
                report.index_type = "hnsw"
                report.seconds = time.perf_counter() - started
                return report
            new_docs = {d.doc_id: d for d in documents}
            delete_documents(conn, report.removed + report.changed)
            todo = [new_docs[d] for d in report.added + report.changed]
            stage(f"Splitting {len(todo)} article(s) into passages")
            passages = split_documents(todo, max_chars, progress)
            stage(f"Embedding {len(passages)} passage(s) with {embedder.model_name}")
            vectors = embedder.encode_passages([p.text for p in passages], progress=progress)
            sentence_vectors = _sentence_vectors(embedder, passages, progress)
            stage(f"Writing to PostgreSQL at {describe(url)}")
            insert_documents(conn, todo)
            insert_passages(conn, NewPassages(passages, vectors.reshape(-1, embedder.dim), sentence_vectors))
            report.passages_embedded = len(passages)
            report.passages_total = finish(conn, embedder, max_chars)
            report.index_type = "hnsw"
    finally:
        conn.close()
    report.seconds = time.perf_counter() - started
    return report


def begin(conn, schema: str, dim: int, url: str) -> None:
    """Inside the update transaction: take the indexer lock, create or upgrade the tables, and make
    `schema` the search path for the rest of the transaction."""
    from pgvector.psycopg import register_vector

    locked = conn.execute("SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))",
                          (s.LOCK_NAMESPACE, f"index:{schema}")).fetchone()[0]
    if not locked:
        raise QABotError(f"Another `qa-bot index` is updating the PostgreSQL database {describe(url)} right now; "
                         "wait for it to finish.")
    s.ensure_schema(conn, schema, dim, url)  # also makes `schema` the search path of this transaction
    register_vector(conn)


def clear(conn, dim: int, old_dim: int | None) -> None:
    """Empty every index table (a rebuild, or another model); re-type the vectors for a new dimension."""
    conn.execute("TRUNCATE " + ", ".join(s.INDEX_TABLES) + " CASCADE")
    conn.execute("DROP INDEX IF EXISTS passages_hnsw")
    if old_dim is not None and old_dim != dim:
        s.set_dimension(conn, dim)
    conn.execute("UPDATE qa_index SET passages = 0, documents = 0, total_length = 0, langs = '{}'")


def _diff(conn, documents: Sequence[Document], prune: bool) -> IndexReport:
    report = IndexReport()
    old_hashes = dict(conn.execute("SELECT doc_id, content_hash FROM documents").fetchall())
    new_docs = {d.doc_id: d for d in documents}
    for doc_id, doc in sorted(new_docs.items()):
        if doc_id not in old_hashes:
            report.added.append(doc_id)
        elif old_hashes[doc_id] != doc.content_hash:
            report.changed.append(doc_id)
        else:
            report.unchanged.append(doc_id)
    report.removed = sorted(set(old_hashes) - set(new_docs)) if prune else []
    return report


def delete_documents(conn, doc_ids: Sequence[str]) -> None:
    """Delete articles with everything hanging off them, taking their postings out of the BM25 stats."""
    if not doc_ids:
        return
    conn.execute("""UPDATE terms t SET df = t.df - d.n
                    FROM (SELECT o.term_id, count(*) AS n FROM postings o JOIN passages p ON p.id = o.passage_id
                          WHERE p.doc_id = ANY(%s) GROUP BY o.term_id) d
                    WHERE t.id = d.term_id""", (list(doc_ids),))
    conn.execute("""UPDATE qa_index SET total_length = total_length -
                    (SELECT coalesce(sum(bm25_length), 0) FROM passages WHERE doc_id = ANY(%s))""", (list(doc_ids),))
    conn.execute("DELETE FROM documents WHERE doc_id = ANY(%s)", (list(doc_ids),))


def insert_documents(conn, docs: Sequence[Document]) -> None:
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO documents (doc_id, path, title, url, outlet, published, lang, content_hash) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        [(d.doc_id, d.path, d.title, d.url, d.outlet, d.published, d.lang, d.content_hash)
                         for d in docs])


def _ids(conn, sequence: str, n: int) -> np.ndarray:
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rows = conn.execute("SELECT nextval(%s) FROM generate_series(1, %s)", (sequence, n)).fetchall()
    return np.array([r[0] for r in rows], dtype=np.int64)


def insert_passages(conn, new: NewPassages) -> None:
    """Paragraph vectors, passages and BM25 postings of new articles (the articles' rows exist)."""
    passages, vectors = new.passages, np.ascontiguousarray(new.vectors, dtype=np.float32)
    if not passages:
        return
    empty_before = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM passages)").fetchone()[0]
    if empty_before:  # building the graph once, after loading, is much faster than insert by insert
        conn.execute("DROP INDEX IF EXISTS passages_hnsw")
    keys: dict[tuple[str, int], int] = {}
    para_of = np.array([keys.setdefault((p.doc_id, p.paragraph), len(keys)) for p in passages], dtype=np.int64)
    para = np.zeros((len(keys), vectors.shape[1]), dtype=np.float32)
    np.add.at(para, para_of, vectors)
    para /= np.maximum(np.linalg.norm(para, axis=1, keepdims=True), 1e-12)
    para_ids = _ids(conn, "paragraphs_id_seq", len(keys))
    ids = _ids(conn, "passages_id_seq", len(passages))
    with conn.cursor() as cur:
        with cur.copy("COPY paragraphs (id, doc_id, paragraph, embedding) FROM STDIN WITH (FORMAT BINARY)") as cp:
            cp.set_types(["int8", "text", "int4", "vector"])
            for (doc_id, paragraph), row in keys.items():
                cp.write_row((int(para_ids[row]), doc_id, paragraph, para[row]))
    texts = _paragraph_texts(passages)
    analysed = [Counter(analyze(text, p.lang)) for text, p in zip(texts, passages)]
    lengths = [sum(c.values()) for c in analysed]
    with conn.cursor() as cur:
        with cur.copy("COPY passages (id, doc_id, paragraph_id, paragraph, start_char, end_char, text, lang, "
                      "sentences, embedding, sentence_vectors, bm25_length) FROM STDIN WITH (FORMAT BINARY)") as cp:
            cp.set_types(["int8", "text", "int8", "int4", "int4", "int4", "text", "text", "jsonb", "vector",
                          "bytea", "int4"])
            for i, p in enumerate(passages):
                sv = new.sentence_vectors[i]
                cp.write_row((int(ids[i]), p.doc_id, int(para_ids[para_of[i]]), p.paragraph, p.start, p.end,
                              p.text, p.lang, json.dumps(p.sentences), vectors[i],
                              None if sv is None else np.asarray(sv, dtype="<f2").tobytes(), lengths[i]))
    _insert_postings(conn, ids, analysed, lengths)
    conn.execute("UPDATE qa_index SET total_length = total_length + %s", (int(sum(lengths)),))
    if empty_before:
        conn.execute("SET LOCAL maintenance_work_mem = '1GB'")
        conn.execute(s.HNSW_INDEX.format(m=HNSW_M, ef=HNSW_EF_CONSTRUCTION))


def _paragraph_texts(passages: Sequence[Passage]) -> list[str]:
    """BM25 text of each passage: its whole paragraph, as in the embedded engine (`store._paragraph_texts`)."""
    paragraphs: dict[tuple[str, int], list[str]] = {}
    for p in passages:
        paragraphs.setdefault((p.doc_id, p.paragraph), []).append(p.text)
    return [" ".join(paragraphs[(p.doc_id, p.paragraph)]) for p in passages]


def _insert_postings(conn, ids: np.ndarray, analysed: Sequence[Counter], lengths: Sequence[int]) -> None:
    df: Counter[str] = Counter()
    for counts in analysed:
        df.update(counts.keys())
    if not df:
        return
    vocab = list(df)
    rows = conn.execute(
        """INSERT INTO terms (term, df) SELECT * FROM unnest(%s::text[], %s::int[])
           ON CONFLICT (term) DO UPDATE SET df = terms.df + excluded.df RETURNING id, term""",
        (vocab, [df[t] for t in vocab])).fetchall()
    term_id = {term: tid for tid, term in rows}
    with conn.cursor() as cur:
        with cur.copy("COPY postings (term_id, passage_id, tf, length) FROM STDIN WITH (FORMAT BINARY)") as cp:
            cp.set_types(["int4", "int8", "int4", "int4"])
            for pid, counts, length in zip(ids.tolist(), analysed, lengths):
                for term, tf in counts.items():
                    cp.write_row((term_id[term], pid, tf, length))


def finish(conn, embedder: Embedder, max_chars: int) -> int:
    """Record the new generation in qa_index (what readers poll); the passage count."""
    from ..local.generations import versions as _versions

    conn.execute("DELETE FROM terms WHERE df <= 0")  # their postings went with their passages
    row = conn.execute(
        """UPDATE qa_index SET generation = generation + 1, backend = %s, model = %s, dim = %s,
                  max_passage_chars = %s, built_at = now(), versions = %s,
                  passages = (SELECT count(*) FROM passages), documents = (SELECT count(*) FROM documents),
                  langs = ARRAY(SELECT DISTINCT lang FROM documents ORDER BY lang)
           RETURNING passages""",
        (embedder.backend, embedder.model_name, embedder.dim, max_chars,
         json.dumps(_versions(embedder.backend) | {"pgvector": _pgvector_version(conn)}))).fetchone()
    return int(row[0])


def _pgvector_version(conn) -> str:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    return row[0] if row else "?"
