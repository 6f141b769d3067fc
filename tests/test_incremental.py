"""Incremental updates of the local index: an update writes one new segment and touches no other file;
searches over segments with deletions answer exactly as an index built from scratch; merges and
compactions keep it so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_service

from qa_bot.store.local import build as build_module
from qa_bot.store.local.generations import read_manifest
from qa_bot.store.local.segment import FILES

QUESTIONS = ["Wer ist Jake Sullivan?", "Wie hoch ist der Eiffelturm?", "Welche Städte wurden mit Drohnen angegriffen?",
             "Wie viele nordkoreanische Truppen sind in Russland?", "Was sagte Biden über die Ukraine?",
             "Worüber schreibt der Artikel drei?"]
EXTRA = {
    "eiffel": "Der Eiffelturm ist 330 Meter hoch. Er steht in Paris.\n\nJedes Jahr besuchen ihn Millionen.",
    "drei": "Artikel drei handelt von Drohnen über Kiew. Die Stadt wurde in der Nacht angegriffen.",
    "vier": "Ein vierter Artikel über Jake Sullivan und Andriy Yermak in Washington.",
}


@pytest.fixture
def no_compaction(monkeypatch):
    monkeypatch.setattr(build_module, "COMPACT_DELTA_SHARE", 1e9)
    monkeypatch.setattr(build_module, "COMPACT_DELETED_SHARE", 1e9)
    monkeypatch.setattr(build_module, "MAX_DELTA_SEGMENTS", 100)


def answers(service) -> list[list[tuple[str, float, str]]]:
    out = []
    for question in QUESTIONS:
        for mode in ("fused", "dense", "bm25"):
            answer = service.search(question, k=5, mode=mode)
            out.append([(r.text, round(r.score, 4), r.highlight) for r in answer.results])
    return out


def assert_same_as_rebuilt(service, articles: Path, tmp_path: Path) -> None:
    fresh = make_service(articles, tmp_path / "fresh")
    assert [(d.doc_id, d.passages) for d in service.sources()] == [(d.doc_id, d.passages) for d in fresh.sources()]
    assert service.info().passages == fresh.info().passages and service.info().documents == fresh.info().documents
    assert answers(service) == answers(fresh)


def update(articles: Path, changes: dict[str, str | None]) -> None:
    for name, text in changes.items():
        path = articles / f"{name}.txt"
        if text is None:
            path.unlink()
        else:
            path.write_text(text, "utf-8")


def test_updates_write_one_segment_and_search_like_a_rebuild(articles, tmp_path, no_compaction):
    index_dir = tmp_path / "index"
    service = make_service(articles, index_dir)
    base = read_manifest(index_dir).segments[0]
    base_files = {name: (index_dir / name).stat().st_mtime_ns for name in base.files().values()}

    update(articles, {"eiffel": EXTRA["eiffel"]})
    report = service.index()
    assert report.added == ["eiffel"] and report.passages_embedded == 2
    update(articles, {"drei": EXTRA["drei"], "002_eaf006b3a9e755d3": None})
    report = service.index()
    assert report.removed == ["002_eaf006b3a9e755d3"] and report.passages_embedded == 1
    seed = articles / "000_a9b13bc05b2b618c.txt"
    seed.write_text(seed.read_text("utf-8") + "\nEin neuer Absatz über Pjöngjang.\n", "utf-8")
    report = service.index()
    assert report.changed == ["000_a9b13bc05b2b618c"] and report.passages_embedded == 9

    manifest = read_manifest(index_dir)
    assert [s.passages for s in manifest.segments] == [17, 2, 1, 9]
    assert manifest.deleted_passages == 17 and manifest.passages == 12  # both seed articles replaced or gone
    assert {name: (index_dir / name).stat().st_mtime_ns for name in base_files} == base_files  # untouched
    assert_same_as_rebuilt(service, articles, tmp_path)
    assert not any("Jake Sullivan" in r.text for r in service.search("Wer ist Jake Sullivan?", 5).results)


def test_merging_later_segments_and_compacting_keep_the_answers(articles, tmp_path, monkeypatch, no_compaction):
    index_dir = tmp_path / "index"
    service = make_service(articles, index_dir)
    monkeypatch.setattr(build_module, "MAX_DELTA_SEGMENTS", 1)
    for name, text in EXTRA.items():
        update(articles, {name: text})
        service.index()
    manifest = read_manifest(index_dir)
    assert len(manifest.segments) == 2 and manifest.segments[1].passages == 4  # three updates, merged
    assert_same_as_rebuilt(service, articles, tmp_path / "a")

    update(articles, {"002_eaf006b3a9e755d3": None, "vier": None})
    service.index()
    assert read_manifest(index_dir).deleted_passages == 10
    monkeypatch.setattr(build_module, "COMPACT_DELETED_SHARE", 0.2)
    update(articles, {"fünf": "Noch ein Artikel, über Moskau."})
    service.index()
    manifest = read_manifest(index_dir)
    assert len(manifest.segments) == 1 and manifest.deleted is None and manifest.passages == 12
    assert manifest.segments[0].passages == 12  # the deleted passages are gone from the files
    assert_same_as_rebuilt(service, articles, tmp_path / "b")
    files = {p.name for p in index_dir.iterdir()}
    assert all(f in files for f in manifest.files()) and not any(f.startswith("deleted-") and f not in
                                                                   manifest.previous_files for f in files)


def test_deleted_passages_never_come_back_from_an_hnsw_segment(articles, tmp_path, no_compaction):
    from qa_bot.ingest import load_articles
    from qa_bot.store.local.build import build_index

    service = make_service(articles, tmp_path / "index")
    build_index(tmp_path / "index", load_articles([articles]), service.embedder, 500, rebuild=True,
                index_type="hnsw")
    service.reload_if_changed()
    assert service.info().index_type == "hnsw"
    update(articles, {"002_eaf006b3a9e755d3": None})
    service.index()
    for question in QUESTIONS:
        for r in service.search(question, k=10, mode="dense").results:
            assert r.source.doc_id != "002_eaf006b3a9e755d3"
    assert len(service.snapshot.passage_ids()) == 8
    np.testing.assert_array_equal(np.sort(service.snapshot.passage_ids()),
                                  sorted(service.snapshot.passages(service.snapshot.passage_ids())))


def test_a_damaged_later_segment_is_found_and_rebuilt(articles, tmp_path, no_compaction):
    index_dir = tmp_path / "index"
    service = make_service(articles, index_dir)
    update(articles, {"eiffel": EXTRA["eiffel"]})
    service.index()
    later = read_manifest(index_dir).segments[1]
    (index_dir / FILES["bm25"].format(later.name)).write_bytes(b"garbage")
    update(articles, {"drei": EXTRA["drei"]})
    report = service.index()  # the damage is seen before anything is reused: a full build
    assert report.passages_embedded == 20 and len(read_manifest(index_dir).segments) == 1
    assert service.search("Wie hoch ist der Eiffelturm?").answered


def test_bm25_over_segments_with_deletions_scores_like_one_index(monkeypatch):
    """Corpus-wide statistics: segments, deleted rows and merged postings give one index's scores, on
    every top-k path (plain, dense array, MaxScore pruning)."""
    from qa_bot import bm25 as bm25_module
    from qa_bot.bench.synthetic import synthetic_texts
    from qa_bot.bm25 import BM25Index, BM25Segment

    texts, questions = synthetic_texts(3000, queries=30, seed=11)
    ids = np.arange(1, 3001)
    parts = [BM25Segment.build(ids[i:i + 1000], texts[i:i + 1000], ["de"] * 1000) for i in (0, 1000, 2000)]
    gone = np.arange(1200, 1500)
    live = np.setdiff1d(ids, gone)
    reference = BM25Index.build(live, [texts[i - 1] for i in live], ["de"] * len(live))
    merged = BM25Index([BM25Segment.merge([(p, ~np.isin(p.ids, gone)) for p in parts])])
    candidates = {"segments": BM25Index(parts, gone), "merged": merged}
    for prune_min, dense_max in ((10**12, 0), (0, 0), (10**12, 10**9)):
        monkeypatch.setattr(bm25_module, "PRUNE_MIN_POSTINGS", prune_min)
        monkeypatch.setattr(bm25_module, "DENSE_MAX_ROWS", dense_max)
        for question in questions:
            want_ids, want, want_ideal = reference.top(question, 10)
            for name, index in candidates.items():
                got_ids, got, ideal = index.top(question, 10)
                assert ideal == pytest.approx(want_ideal, rel=1e-6), name
                np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=name)
                assert not set(got_ids.tolist()) & set(gone.tolist())
    assert len(candidates["segments"]) == len(reference) == 2700


def test_an_update_hashes_only_the_files_it_writes(articles, tmp_path, no_compaction, monkeypatch):
    """Checksums of unchanged files are remembered (with size, inode and mtime), so verifying the index
    before an update does not read the whole index again; a file changed since is hashed and caught.
    (Readers still hash every file they load.)"""
    from qa_bot.ingest import load_articles
    from qa_bot.store.local import segment as segment_module
    from qa_bot.store.local.build import build_index

    index_dir = tmp_path / "index"
    service = make_service(articles, index_dir)
    base = read_manifest(index_dir).segments[0]
    hashed: list[str] = []
    real = segment_module.checksum
    monkeypatch.setattr(segment_module, "checksum", lambda path: hashed.append(path.name) or real(path))

    def index() -> object:
        return build_index(index_dir, load_articles([articles]), service.embedder, 500)

    update(articles, {"eiffel": EXTRA["eiffel"]})
    index()
    assert hashed and not set(hashed) & set(base.files().values())  # only the new segment's files
    hashed.clear()
    vectors = index_dir / base.files()["faiss"]
    data = bytearray(vectors.read_bytes())
    data[-100] ^= 0xFF  # same size, other bytes, a new modification time
    vectors.write_bytes(bytes(data))
    update(articles, {"drei": EXTRA["drei"]})
    report = index()
    assert vectors.name in hashed and report.repaired and "checksum" in report.repaired
