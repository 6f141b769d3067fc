"""Per-question latency, warm and in-process, against the floor: the model alone plus one raw FAISS search.

Both are timed on the same questions, interleaved, so caches and CPU frequency treat them alike. The
full search is split into stages in a second pass, which says where any time above the floor goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .stats import summary_ms


def _timed(func: Callable[[], Any]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def measure_latency(service, questions: Sequence[str], k: int = 3, warmup: int = 10,
                    progress: bool = False, desc: str = "Latency") -> dict[str, Any]:
    """p50/p95 of `service.search` and of the floor over `questions`, their ratio and a stage breakdown."""
    from tqdm import tqdm

    from ..retrieve import FETCH_MIN

    retriever = service.retriever
    embedder = retriever.embedder
    raw_index = retriever.snapshot.vectors._index  # the bare FAISS index: the floor has no wrapper
    fetch = max(FETCH_MIN, 3 * k)

    def floor(question: str) -> None:
        qvec = embedder.encode_queries([question])
        raw_index.search(np.ascontiguousarray(qvec, dtype=np.float32), fetch)

    for question in list(questions)[:warmup]:
        floor(question)
        service.search(question, k)
    full_t, floor_t = [], []
    for i, question in enumerate(tqdm(questions, desc=desc, unit="q", disable=not progress, leave=False)):
        if i % 2:  # alternate which goes first
            full_t.append(_timed(lambda q=question: service.search(q, k)))
            floor_t.append(_timed(lambda q=question: floor(q)))
        else:
            floor_t.append(_timed(lambda q=question: floor(q)))
            full_t.append(_timed(lambda q=question: service.search(q, k)))
    full, base = summary_ms(full_t), summary_ms(floor_t)
    return {"questions": len(questions), "k": k, "search": full, "floor": base,
            "ratio_p50": full["p50_ms"] / base["p50_ms"], "ratio_p95": full["p95_ms"] / base["p95_ms"],
            "answered": sum(service.search(q, k).answered for q in questions[:50]) / max(min(50, len(questions)), 1),
            "stages": stage_breakdown(retriever, questions, k, full["p50_ms"])}


def stage_breakdown(retriever, questions: Sequence[str], k: int, full_p50_ms: float) -> dict[str, float]:
    """p50 (ms) of the stages with a stable interface (model, FAISS search, BM25 top), each timed alone on
    the same questions; `other` is what the full search spends beyond them (fusion, granule scores,
    SQLite reads, de-duplication, highlighting)."""
    from ..retrieve import FETCH_MIN

    snap = retriever.snapshot
    fetch = max(FETCH_MIN, 3 * k)
    times: dict[str, list[float]] = {"encode": [], "dense_search": [], "bm25_top": []}
    for question in questions:
        start = time.perf_counter()
        qvec = retriever.embedder.encode_queries([question])[0]
        times["encode"].append(time.perf_counter() - start)
        times["dense_search"].append(_timed(lambda q=qvec: snap.vectors.search(q, fetch)))
        times["bm25_top"].append(_timed(lambda q=question: snap.bm25.top(q, fetch)))
    out = {name: summary_ms(values)["p50_ms"] for name, values in times.items()}
    out["other"] = full_p50_ms - sum(out.values())
    return out
