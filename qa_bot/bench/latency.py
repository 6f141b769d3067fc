"""Per-question latency, warm and in-process, against the floor: the model alone plus one raw vector search.

Both are timed on the same questions, interleaved, so caches and CPU frequency treat them alike. The
full search is split into stages in a second pass, which says where any time above the floor goes.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

from .stats import summary_ms


def _timed(func: Callable[[], Any]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def measure_latency(service, questions: Sequence[str], k: int = 3, warmup: int = 10,
                    progress: bool = False, desc: str = "Latency") -> dict[str, Any]:
    """p50/p95 of `service.search` and of the floor over `questions`, their ratio and a stage breakdown."""
    from tqdm import tqdm

    from ..retrieve import fetch_size

    retriever = service.retriever
    embedder = retriever.embedder
    snapshot = retriever.snapshot
    fetch = fetch_size(k)

    def floor(question: str) -> None:
        snapshot.dense_search(embedder.encode_queries([question])[0], fetch)

    for question in list(questions)[:warmup]:
        floor(question)
        service.search(question, k)
    full_t, floor_t = [], []
    for i, question in enumerate(tqdm(questions, desc=desc, unit="q", disable=not progress, leave=False)):
        ask, bare = functools.partial(service.search, question, k), functools.partial(floor, question)
        if i % 2:  # alternate which goes first
            full_t.append(_timed(ask))
            floor_t.append(_timed(bare))
        else:
            floor_t.append(_timed(bare))
            full_t.append(_timed(ask))
    full, base = summary_ms(full_t), summary_ms(floor_t)
    return {"questions": len(questions), "k": k, "search": full, "floor": base,
            "ratio_p50": full["p50_ms"] / base["p50_ms"], "ratio_p95": full["p95_ms"] / base["p95_ms"],
            "answered": sum(service.search(q, k).answered for q in questions[:50]) / max(min(50, len(questions)), 1),
            "stages": stage_breakdown(retriever, questions, k, full["p50_ms"])}


def stage_breakdown(retriever, questions: Sequence[str], k: int, full_p50_ms: float) -> dict[str, float]:
    """p50 (ms) of each stage of `Retriever.search`, timed inside real searches (its `timings` hook).
    `other` is what the full search spends beyond model, FAISS and BM25 (fusion, granule scores, SQLite
    reads, de-duplication, highlighting)."""
    from ..retrieve import STAGES

    times: dict[str, list[float]] = {name: [] for name in STAGES}
    for question in questions:
        timings: dict[str, float] = {}
        retriever.search(question, k, timings=timings)
        for name in STAGES:
            times[name].append(timings.get(name, 0.0))
    out = {name: summary_ms(values)["p50_ms"] for name, values in times.items()}
    out["other"] = full_p50_ms - out["encode"] - out["dense_search"] - out["bm25_top"]
    return out
