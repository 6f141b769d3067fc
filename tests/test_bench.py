"""`qa-bot bench` runs end to end (quick mode, tiny corpus, hash backend), and the approximate indexes
and the pruned BM25 it relies on at scale give the same answers as exact search. No timings asserted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import make_service

from qa_bot import bm25 as bm25_module
from qa_bot.bench.commands import _sizes
from qa_bot.bench.synthetic import exact_top, synthetic_texts, synthetic_vectors
from qa_bot.bm25 import BM25Index, BM25Segment
from qa_bot.cli import cli
from qa_bot.embed import HashEmbedder
from qa_bot.ingest import load_articles
from qa_bot.store.local.build import build_index
from qa_bot.store.local.faiss_store import HNSW_THRESHOLD, FaissVectorStore, choose_index_type
from qa_bot.store.local.generations import read_manifest


def test_quick_bench_writes_table_json_and_chart(articles: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = CliRunner().invoke(cli, ["bench", "--quick", "--backend", "hash", "--articles", str(articles),
                                      "--sizes", "2k", "--questions", "8", "--cold-runs", "1", "--update-size", "100",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "search() (dense+BM25+fuse)" in result.output and "2,000" in result.output
    data = json.loads((out / "bench.json").read_text("utf-8"))
    backend = data["backends"][0]
    assert backend["backend"] == "hash" and backend["latency"]["questions"] == 8
    assert backend["latency"]["search"]["p50_ms"] > 0 and backend["latency"]["floor"]["p50_ms"] > 0
    assert backend["cold_start"]["exit_codes"] == [0]
    assert "qa_bot.cli" in backend["cold_start"]["imports"]["slowest_imports_ms"]  # imports were traced
    assert "torch" not in backend["cold_start"]["imports"]["heavy"]  # the hash backend needs no model
    assert "telegram" not in backend["cold_start"]["imports"]["heavy"]  # `ask` never loads the bot
    assert backend["cold_start"]["peak_rss_mib"] > 0 and backend["idle"]["rss_mib"] > 0
    assert backend["indexing"]["encode_passages_per_s"] > 0
    vectors = data["scale"]["vectors"][0]
    assert vectors["passages"] == 2000 and vectors["index_type"] == choose_index_type(2000)
    assert vectors["recall_at_10"] == pytest.approx(1.0)  # flat is exact
    assert data["scale"]["bm25"][0]["search"]["n"] > 0
    assert (out / "bench-latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    updates = data["updates"]
    assert updates["passages"] >= 100 and updates["add_passages"] >= 10 and updates["change_passages"] >= 10
    assert 0 < updates["add_s"] and 0 < updates["full_build_s"] and updates["segments"] >= 1
    assert "incremental updates" in result.output


def test_sizes_option_parses_suffixes() -> None:
    assert _sizes("10k, 100k,1m") == (10_000, 100_000, 1_000_000)
    assert _sizes("2500") == (2500,)
    assert _sizes(None) is None


def test_index_type_is_chosen_by_corpus_size() -> None:
    assert choose_index_type(HNSW_THRESHOLD - 1) == "flat"
    assert choose_index_type(HNSW_THRESHOLD) == "hnsw"


def test_hnsw_build_save_load_search_matches_exact(tmp_path: Path) -> None:
    vectors = synthetic_vectors(3000, 384, seed=5)
    queries = synthetic_vectors(40, 384, seed=6)
    ids = np.arange(100, 3100, dtype=np.int64)
    store = FaissVectorStore.build(ids, vectors, 384, "hnsw")
    store.save(tmp_path / "v.faiss")
    loaded = FaissVectorStore.load(tmp_path / "v.faiss", "hnsw")
    assert loaded.index_type == "hnsw" and len(loaded) == 3000 and loaded.dim == 384
    assert np.array_equal(np.sort(loaded.all_ids()), ids)
    np.testing.assert_allclose(loaded.vectors(ids[[0, 1234, 2999]]), vectors[[0, 1234, 2999]], atol=1e-6)
    truth = ids[exact_top(queries, vectors, 10)]
    recalls = []
    for q, expected in zip(queries, truth, strict=True):
        scores, found = loaded.search(q, 10)
        assert np.all(np.diff(scores) <= 1e-6)  # best first
        np.testing.assert_allclose(scores, loaded.vectors(found) @ q, atol=1e-5)
        recalls.append(len(set(found.tolist()) & set(expected.tolist())) / 10)
    assert np.mean(recalls) >= 0.95


def test_manifest_records_hnsw_and_answers_match_flat(articles: Path, tmp_path: Path) -> None:
    flat = make_service(articles, tmp_path / "flat")
    docs = load_articles([articles])
    build_index(tmp_path / "hnsw", docs, HashEmbedder(), 500, index_type="hnsw")
    assert read_manifest(tmp_path / "hnsw").index_type == "hnsw"
    assert read_manifest(tmp_path / "flat").index_type == "flat"
    approx = make_service(articles, tmp_path / "hnsw")
    assert approx.info().index_type == "hnsw"
    for question in ("Wer ist Jake Sullivan?", "Wie viele nordkoreanische Truppen sind in Russland?"):
        want, got = flat.search(question, 3), approx.search(question, 3)
        assert [r.passage_id for r in got.results] == [r.passage_id for r in want.results]


def test_bm25_fast_paths_equal_full_scoring(monkeypatch) -> None:
    """The pruned (large corpora) and dense (small corpora) top-k give the scores of plain scoring."""
    texts, questions = synthetic_texts(3000, queries=40, seed=7)
    segment = BM25Segment.build(range(1, 3001), texts, ["de"] * 3000)
    assert all(np.all(np.diff(segment.rows[segment.indptr[t]:segment.indptr[t + 1]]) > 0) for t in range(50))
    index = BM25Index([segment])
    paths = {"plain": (10**12, 0, 10.0), "pruned": (0, 0, 10.0), "pruned_dense": (0, 0, 0.0),
             "dense": (10**12, 10**9, 10.0)}
    for question in questions:
        results = {}
        for name, (prune_min, dense_max, dense_share) in paths.items():
            monkeypatch.setattr(bm25_module, "PRUNE_MIN_POSTINGS", prune_min)
            monkeypatch.setattr(bm25_module, "DENSE_MAX_ROWS", dense_max)
            monkeypatch.setattr(bm25_module, "DENSE_SHARE", dense_share)
            results[name] = index.top(question, 10)
        want_ids, want_scores, want_ideal = results["plain"]
        assert len(want_ids) == 10
        for ids, scores, ideal in (results["pruned"], results["pruned_dense"], results["dense"]):
            assert ideal == want_ideal
            np.testing.assert_allclose(scores, want_scores, rtol=1e-6)
            assert set(ids[scores > want_scores[-1]].tolist()) <= set(want_ids.tolist())


def test_synthetic_vectors_are_unit_and_deterministic() -> None:
    a, b = synthetic_vectors(500, 64, seed=1), synthetic_vectors(500, 64, seed=1)
    assert a.dtype == np.float32 and np.array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
