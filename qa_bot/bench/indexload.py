"""What verifying the index checksums costs when an index is loaded (`qa-bot bench --index-load 10k,100k`).

A local index of N synthetic passages (about 500 characters each, grouped ten to an article, with the
hash embedder's 384-dimension vectors: the file sizes of a real index of that size; sentences are cut
every ~100 characters instead of by pysbd, which would take most of the build) is built once; then
it is loaded several times with its checksums verified and several times with them ignored. Files stay
in the page cache between loads, so the difference is the CPU time of SHA-256 over every file; on a cold
cache, verifying also reads the SQLite file that loading alone reads lazily.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def measure_index_load(n: int, repeats: int = 3, echo: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    from .. import ingest
    from ..embed import HashEmbedder
    from ..ingest import make_document
    from ..store.local.build import build_index
    from ..store.local.generations import read_manifest
    from ..store.local.segment import checksum
    from ..store.local.snapshot import LocalSnapshot
    from .synthetic import synthetic_texts

    texts, _ = synthetic_texts(n, queries=0)
    docs = [make_document(f"doc{i:07d}", "\n\n".join(texts[i:i + 10]), meta={"lang": "de"})
            for i in range(0, n, 10)]
    with tempfile.TemporaryDirectory(prefix="qa-bot-load-") as tmp:
        index_dir = Path(tmp)
        echo(f"Building a local index of {n} passages …")
        started = time.perf_counter()
        real_splitter = ingest.split_sentences
        ingest.split_sentences = _regex_sentences
        try:
            build_index(index_dir, docs, HashEmbedder(), 500)
        finally:
            ingest.split_sentences = real_splitter
        build_s = time.perf_counter() - started
        manifest = read_manifest(index_dir)
        unchecked = dataclasses.replace(
            manifest, deleted_checksum=None,
            segments=tuple(dataclasses.replace(seg, checksums={}) for seg in manifest.segments))
        sizes: dict[str, int] = {}
        for seg in manifest.segments:
            for kind, name in seg.files().items():
                sizes[kind] = sizes.get(kind, 0) + (index_dir / name).stat().st_size

        def load(m) -> float:
            began = time.perf_counter()
            LocalSnapshot(index_dir, m).close()
            return time.perf_counter() - began

        load(manifest)  # warm the page cache
        with_checks = min(load(manifest) for _ in range(repeats))
        without = min(load(unchecked) for _ in range(repeats))
        hashing = min(sum(_timed(functools.partial(checksum, index_dir / name)) for name in manifest.files())
                      for _ in range(repeats))
    total = sum(sizes.values())
    return {"passages": manifest.passages, "index_type": manifest.index_type, "build_s": round(build_s, 1),
            "files_mib": round(total / 2**20, 1), "sizes_mib": {k: round(v / 2**20, 2) for k, v in sizes.items()},
            "load_ms": round(with_checks * 1000, 1), "load_without_checksums_ms": round(without * 1000, 1),
            "checksums_ms": round(hashing * 1000, 1),
            "sha256_mib_per_s": round(total / 2**20 / hashing) if hashing else None}


def _regex_sentences(text: str, lang: str) -> list[tuple[int, int]]:
    """Sentences of about 100 characters, cut at spaces: as many sentence vectors as real news text has."""
    spans, start = [], 0
    while start < len(text):
        end = text.find(" ", start + 100)
        end = len(text) if end < 0 else end
        spans.append((start, end))
        start = end + 1
    return spans


def _timed(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return time.perf_counter() - began


def format_index_load(rows: list[dict[str, Any]]) -> str:
    lines = ["| passages | index files | load, checksums verified | load without | SHA-256 of all files |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['passages']:,} ({r['index_type']}) | {r['files_mib']} MiB | {r['load_ms']} ms | "
                     f"{r['load_without_checksums_ms']} ms | {r['checksums_ms']} ms "
                     f"({r['sha256_mib_per_s']} MiB/s) |")
    return "\n".join(lines)
