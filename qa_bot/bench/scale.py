"""Scale: vector search and BM25 at 10k, 100k and 1M passages, and the flat-versus-HNSW crossover that
sets `faiss_store.HNSW_THRESHOLD`.

Vectors are synthetic (see `synthetic`), 384 dimensions like all-MiniLM-L6-v2; each index is built with
`FaissVectorStore.build(..., "auto")`, so the index type is the one the product would choose. Search
runs on one thread, as in the product. Recall@10 is measured against exact search on the same vectors.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..retrieve import fetch_size
from .stats import summary_ms
from .synthetic import exact_top, synthetic_texts, synthetic_vectors

DIM = 384
FETCH = fetch_size(3)  # what the retriever asks each ranker for, at the default k


def _rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _search_times(search, queries: np.ndarray) -> tuple[list[float], list[np.ndarray]]:
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        _, ids = search(q)
        times.append(time.perf_counter() - start)
        found.append(ids)
    return times, found


def measure_vectors(n: int, queries: int = 200, exact_queries: int = 50) -> dict[str, Any]:
    """Build time, memory, p50/p95 and recall@10 of the auto-chosen index over `n` synthetic vectors."""
    import faiss

    from ..store.local.faiss_store import FaissVectorStore

    x = synthetic_vectors(n, DIM, seed=1)
    q = synthetic_vectors(queries, DIM, seed=2)
    truth = exact_top(q, x, 10)
    gc.collect()
    before = _rss_mib()
    start = time.perf_counter()
    store = FaissVectorStore.build(np.arange(n, dtype=np.int64), x, DIM, "auto")
    build_s = time.perf_counter() - start
    memory = _rss_mib() - before
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vectors.faiss"
        store.save(path)
        disk = path.stat().st_size / 2**20
    store.search(q[0], FETCH)  # warm
    times, found = _search_times(lambda v, s=store: s.search(v, FETCH), q)
    recall = float(np.mean([len(set(f[:10].tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth,
                                                                                           strict=True)]))
    out = {"passages": n, "index_type": store.index_type, "build_s": build_s, "memory_mib": memory,
           "disk_mib": disk, "search": summary_ms(times), "recall_at_10": recall}
    del store
    gc.collect()
    if out["index_type"] != "flat":  # the exact scan it replaces, for the comparison
        flat = faiss.IndexFlatIP(DIM)
        flat.add(x)
        faiss.omp_set_num_threads(1)
        out["exact_search"] = summary_ms(_search_times(lambda v: flat.search(v.reshape(1, -1), FETCH),
                                                       q[:exact_queries])[0])
        del flat
    else:
        out["exact_search"] = out["search"]
    del x
    gc.collect()
    return out


def measure_bm25(n: int, queries: int = 200) -> dict[str, Any]:
    """Build time, array memory and top-30 p50/p95 of BM25 over `n` generated passages."""
    from ..bm25 import BM25Index

    texts, questions = synthetic_texts(n, queries, seed=3)
    gc.collect()
    start = time.perf_counter()
    index = BM25Index.build(range(1, n + 1), texts, ["de"] * n)
    build_s = time.perf_counter() - start
    del texts
    gc.collect()
    arrays = index.nbytes / 2**20
    index.top(questions[0], FETCH)  # warm (computes the per-term bounds once)
    times = []
    for question in questions:
        start = time.perf_counter()
        index.top(question, FETCH)
        times.append(time.perf_counter() - start)
    postings = [index.postings(question) for question in questions]
    return {"passages": n, "build_s": build_s, "arrays_mib": arrays, "vocabulary": index.vocabulary_size,
            "search": summary_ms(times), "postings_per_query_p50": float(np.median(postings))}


def measure_threshold(sizes: Sequence[int], queries: int = 100) -> list[dict[str, Any]]:
    """p50 of exact (flat) and HNSW search at small sizes: where HNSW starts paying off."""
    import faiss

    from ..store.local.faiss_store import FaissVectorStore

    q = synthetic_vectors(queries, DIM, seed=2)
    rows = []
    for n in sizes:
        x = synthetic_vectors(n, DIM, seed=1)
        truth = exact_top(q, x, 10)
        result: dict[str, Any] = {"passages": n}
        for kind in ("flat", "hnsw"):
            start = time.perf_counter()
            store = FaissVectorStore.build(np.arange(n, dtype=np.int64), x, DIM, kind)
            build_s = time.perf_counter() - start
            faiss.omp_set_num_threads(1)
            store.search(q[0], FETCH)
            times, found = _search_times(lambda v, s=store: s.search(v, FETCH), q)
            recall = float(np.mean([len(set(f[:10].tolist()) & set(t.tolist())) / 10
                                    for f, t in zip(found, truth, strict=True)]))
            result[kind] = {"p50_ms": summary_ms(times)["p50_ms"], "recall_at_10": recall, "build_s": build_s}
        rows.append(result)
    return rows


def run_scale(sizes: Sequence[int], queries: int = 200, threshold_sizes: Sequence[int] = (),
              progress: bool = False) -> dict[str, Any]:
    """Everything above for each size, biggest last; a progress bar over the steps."""
    from tqdm import tqdm

    from ..store.local import faiss_store as vectors

    steps = [("threshold", 0)] * bool(threshold_sizes) + [(kind, n) for n in sizes for kind in ("vectors", "bm25")]
    out: dict[str, Any] = {"dim": DIM, "vectors": [], "bm25": [], "threshold": [],
                           "settings": {"hnsw_threshold": vectors.HNSW_THRESHOLD, "hnsw_m": vectors.HNSW_M,
                                        "ef_construction": vectors.HNSW_EF_CONSTRUCTION,
                                        "ef_search": vectors.HNSW_EF_SEARCH},
                           "data": "synthetic: clustered anisotropic unit vectors; Zipf text (see synthetic.py)"}
    with tqdm(total=len(steps), desc="Scale", unit="step", disable=not progress) as bar:
        for kind, n in steps:
            bar.set_postfix_str(f"{kind} {n:,}" if n else kind)
            if kind == "threshold":
                out["threshold"] = measure_threshold(threshold_sizes)
            elif kind == "vectors":
                out["vectors"].append(measure_vectors(n, queries))
            else:
                out["bm25"].append(measure_bm25(n, queries))
            bar.update()
    return out
