"""The PostgreSQL engine beside the local one at 10k and 100k passages (`qa-bot bench --engines`).

Same synthetic data as the scale part (`synthetic`: 384-d clustered vectors, generated German-like
paragraphs): the PostgreSQL engine gets them through its own writer (COPY, BM25 postings, the HNSW index
built after loading), in a temporary schema of the database in `QA_BOT_DATABASE_URL`. Measured: full
build, adding one article (10 passages) to the built index, the HNSW search alone (p50/p95 and recall@10
against exact search), and a whole candidate query (HNSW + BM25 + the candidates' rows, what one
question costs the database). The local engine's figures come from the scale part's functions.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..ingest import Document, Passage
from ..settings import Settings
from .scale import DIM, FETCH, measure_bm25, measure_vectors
from .stats import summary_ms
from .synthetic import exact_top, synthetic_texts, synthetic_vectors

PER_DOC = 10  # passages per synthetic article


@dataclass
class _Synthetic:
    """Stands in for an embedder in the writer: records backend, model and dimension."""

    backend: str = "bench"
    model_name: str = "synthetic-384"
    dim: int = DIM


def _documents(start: int, texts: Sequence[str]) -> tuple[list[Document], list[Passage]]:
    docs, passages = [], []
    for i in range(0, len(texts), PER_DOC):
        doc_id = f"bench-{start + i:08d}"
        docs.append(Document(doc_id, f"{doc_id}.txt", "", doc_id, lang="de", content_hash=doc_id))
        for j, text in enumerate(texts[i:i + PER_DOC]):
            passages.append(Passage(doc_id, j + 1, 0, len(text), text, "de", [(0, len(text))]))
    return docs, passages


def _write(settings: Settings, docs: list[Document], passages: list[Passage], vectors: np.ndarray) -> float:
    from ..store.pg.build import NewPassages, begin, finish, insert_documents, insert_passages
    from ..store.pg.connect import connect
    from ..store.pg.schema import ensure_vector_extension

    url = settings.database_url or ""
    started = time.perf_counter()
    with connect(url, autocommit=True) as conn:
        ensure_vector_extension(conn, url)
        with conn.transaction():
            begin(conn, settings.database_schema, DIM, url)
            insert_documents(conn, docs)
            insert_passages(conn, NewPassages(passages, vectors, [None] * len(passages)))
            finish(conn, _Synthetic(), 500)  # type: ignore[arg-type]
    return time.perf_counter() - started


def measure_postgres(settings: Settings, n: int, queries: int = 200) -> dict[str, Any]:
    from ..store.pg.schema import drop_schema
    from ..store.pg.snapshot import PgSnapshot, read_meta

    scratch = settings.with_overrides(database_schema=f"qa_bot_bench_{uuid.uuid4().hex[:10]}")
    x = synthetic_vectors(n, DIM, seed=1)
    q = synthetic_vectors(queries, DIM, seed=2)
    texts, questions = synthetic_texts(n, queries, seed=3)
    truth = exact_top(q, x, 10)
    try:
        docs, passages = _documents(0, texts)
        build_s = _write(scratch, docs, passages, x)
        extra_docs, extra_passages = _documents(n, synthetic_texts(PER_DOC, 1, seed=4)[0])
        add_s = _write(scratch, extra_docs, extra_passages, synthetic_vectors(PER_DOC, DIM, seed=5))
        snapshot = PgSnapshot(scratch, read_meta(scratch))
        ids = snapshot.passage_ids()[:n]  # the database's ids, in the order of the rows of `x`
        snapshot.dense_search(q[0], FETCH)  # warm
        times, found = _timed(lambda v: np.searchsorted(ids, snapshot.dense_search(v, FETCH)[1]), q)
        recall = float(np.mean([len(set(f[:10].tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth)]))
        full, _ = _timed(lambda i: snapshot.candidates(questions[i], q[i], FETCH), range(len(questions)))
        size = _size_mib(scratch)
    finally:
        from ..store.pg.connect import close_pools

        close_pools()
        drop_schema(settings.database_url or "", scratch.database_schema)
    return {"passages": n, "build_s": build_s, "add_article_s": add_s, "search": summary_ms(times),
            "recall_at_10": recall, "candidates": summary_ms(full), "database_mib": size}


def _timed(call: Callable[[Any], Any], items) -> tuple[list[float], list[Any]]:
    times, out = [], []
    for item in items:
        start = time.perf_counter()
        out.append(call(item))
        times.append(time.perf_counter() - start)
    return times, out


def _size_mib(settings: Settings) -> float:
    from ..store.pg.connect import connect

    with connect(settings.database_url or "", autocommit=True) as conn:
        row = conn.execute("SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                           "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
                           (settings.database_schema,)).fetchone()
    return float(row[0] or 0) / 2**20


def run_engines(settings: Settings, sizes: Sequence[int], echo: Callable[[str], None] = print) -> dict[str, Any]:
    import os

    rows = []
    for n in sizes:
        echo(f"engines: {n:,} passages, local …")
        local_vectors, local_bm25 = measure_vectors(n), measure_bm25(n)
        echo(f"engines: {n:,} passages, PostgreSQL …")
        rows.append({"passages": n, "local": {"vectors": local_vectors, "bm25": local_bm25},
                     "postgresql": measure_postgres(settings, n)})
    return {"engines": rows, "loadavg_end": os.getloadavg()[0]}


def format_engines(result: dict[str, Any]) -> str:
    lines = ["| Passages | Engine | Build s | Add 1 article s | Vector search p50 / p95 ms | recall@10 | "
             "Question's queries p50 / p95 ms |", "|---|---|---|---|---|---|---|"]
    for row in result["engines"]:
        lv, lb, pg = row["local"]["vectors"], row["local"]["bm25"], row["postgresql"]
        lines.append(f"| {row['passages']:,} | local ({lv['index_type']}) | {lv['build_s'] + lb['build_s']:.1f} | "
                     f"see the incremental figures | {lv['search']['p50_ms']:.2f} / {lv['search']['p95_ms']:.2f} | "
                     f"{lv['recall_at_10']:.3f} | FAISS + BM25: {lv['search']['p50_ms'] + lb['search']['p50_ms']:.2f}"
                     f" / {lv['search']['p95_ms'] + lb['search']['p95_ms']:.2f} |")
        lines.append(f"| {row['passages']:,} | PostgreSQL (pgvector hnsw) | {pg['build_s']:.1f} | "
                     f"{pg['add_article_s']:.2f} | {pg['search']['p50_ms']:.2f} / {pg['search']['p95_ms']:.2f} | "
                     f"{pg['recall_at_10']:.3f} | one statement: {pg['candidates']['p50_ms']:.2f} / "
                     f"{pg['candidates']['p95_ms']:.2f} |")
    return "\n".join(lines)
