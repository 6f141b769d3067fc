"""Indexing throughput: passages embedded per second with every core busy, at full passage length."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any


def measure_encoding(embedder, texts: Sequence[str], threads: int) -> dict[str, Any]:
    """Passages per second of `embedder.encode_passages` over `texts` (after a one-batch warm-up)."""
    texts = list(texts)
    embedder.encode_passages(texts[:8])
    start = time.perf_counter()
    embedder.encode_passages(texts)
    seconds = time.perf_counter() - start
    return {"passages": len(texts), "mean_chars": sum(map(len, texts)) / max(len(texts), 1),
            "threads": threads, "seconds": seconds, "encode_passages_per_s": len(texts) / seconds}
