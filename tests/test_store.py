import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, make_service

from qa_bot.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from qa_bot.service import QAService
from qa_bot.settings import load_settings
from qa_bot.store.local.generations import MANIFEST, read_manifest
from qa_bot.store.local.segment import FILES
from qa_bot.store.local.snapshot import LocalSnapshot

QUESTION = "Wie heißt der nationale Sicherheitsberater der USA?"


def segment_file(manifest: dict, kind: str, segment: int = 0) -> str:
    return FILES[kind].format(manifest["segments"][segment]["name"])


def index_files(index_dir: Path) -> set[str]:
    return {p.name for p in index_dir.iterdir() if p.name != MANIFEST and not p.name.startswith(".")}


def test_manifest_records_the_build(hash_service, tmp_path):
    m = read_manifest(tmp_path / "index")
    assert m.backend == "hash" and m.model == "hash-384" and m.dim == 384
    assert m.passages == 17 and m.documents == 2 and m.index_type == "flat"
    assert m.metric == "inner_product" and m.normalized is True
    assert {"qa_bot", "faiss-cpu", "numpy", "python"} <= set(m.versions)
    assert len(m.segments) == 1 and set(m.segments[0].files()) == {"db", "faiss", "bm25", "granules"}
    assert hash_service.info() == m.info() and hash_service.info().engine == "local"


def test_incremental_add_change_delete(articles, tmp_path):
    service = make_service(articles, tmp_path / "index")
    report = service.index()
    assert not report.modified and report.unchanged == ["000_a9b13bc05b2b618c", "002_eaf006b3a9e755d3"]

    (articles / "new.txt").write_text("Der Eiffelturm ist 330 Meter hoch. Er steht in Paris.", "utf-8")
    seed = articles / "000_a9b13bc05b2b618c.txt"
    seed.write_text(seed.read_text("utf-8") + "\nEin neuer Absatz über Pjöngjang und Moskau.\n", "utf-8")
    (articles / "002_eaf006b3a9e755d3.txt").unlink()
    report = service.index()
    assert (report.added, report.changed, report.removed) == (
        ["new"], ["000_a9b13bc05b2b618c"], ["002_eaf006b3a9e755d3"])
    assert report.passages_embedded == 10  # 9 of the changed article + 1 new; nothing else re-embedded
    assert report.passages_total == 10

    assert [d.doc_id for d in service.sources()] == ["000_a9b13bc05b2b618c", "new"]
    answer = service.search("Wie hoch ist der Eiffelturm?")
    assert answer.answered and "330 Meter" in answer.results[0].text
    assert not any("Jake Sullivan" in r.text for r in service.search(QUESTION, 5).results)


def test_unchanged_passages_keep_their_ids_and_vectors(articles, tmp_path):
    service = make_service(articles, tmp_path / "index")
    before = service.search(QUESTION, mode="dense").results[0]
    (articles / "new.txt").write_text("Ein ganz anderer Artikel.", "utf-8")
    service.index()
    after = service.search(QUESTION, mode="dense").results[0]  # BM25 idf changes with the corpus
    assert (after.passage_id, after.text) == (before.passage_id, before.text)
    assert after.score == pytest.approx(before.score, abs=1e-5)


def test_failed_build_leaves_previous_index_usable(articles, tmp_path, monkeypatch):
    service = make_service(articles, tmp_path / "index")
    files_before = index_files(tmp_path / "index")
    (articles / "new.txt").write_text("Neuer Artikel.", "utf-8")

    def explode(*_a, **_k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service.embedder, "encode_passages", explode)
    with pytest.raises(RuntimeError):
        service.index()
    assert index_files(tmp_path / "index") == files_before  # nothing half-written left behind
    fresh = make_service(articles, tmp_path / "index")
    assert fresh.search(QUESTION).answered
    assert [d.doc_id for d in fresh.sources()] == ["000_a9b13bc05b2b618c", "002_eaf006b3a9e755d3"]


KILL_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from qa_bot.embed import HashEmbedder
    from qa_bot.ingest import load_articles
    from qa_bot.store.local.build import build_index

    class Slow(HashEmbedder):
        def encode_passages(self, texts, progress=False):
            print("embedding", flush=True)
            time.sleep(30)
            return super().encode_passages(texts)

    build_index(Path(sys.argv[1]), load_articles([Path(sys.argv[2])]), Slow(), 500)
""")


def test_kill_during_indexing_keeps_the_previous_index(articles, tmp_path):
    index_dir = tmp_path / "index"
    make_service(articles, index_dir)
    manifest_before = (index_dir / MANIFEST).read_text()
    (articles / "new.txt").write_text("Ein neuer Artikel über etwas anderes.", "utf-8")
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(index_dir), str(articles)],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert proc.stdout.readline().strip() == "embedding"  # mid-build: new SQLite file half written
        assert any(n.startswith("passages-") for n in index_files(index_dir))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert (index_dir / MANIFEST).read_text() == manifest_before
    service = make_service(articles, index_dir)  # opens the old generation, untouched
    assert service.search(QUESTION).answered and len(service.sources()) == 2
    report = service.index()  # the next build succeeds and sweeps the dead build's files
    assert report.added == ["new"]
    generations = {n.split("-", 1)[1].rsplit(".", 1)[0] for n in index_files(index_dir)}
    assert len(generations) == 2  # the new generation and the one before it, nothing else


def test_previous_generation_stays_readable_for_one_build(articles, tmp_path):
    service = make_service(articles, tmp_path / "index")
    old_snapshot = service.snapshot
    (articles / "new.txt").write_text("Neu.", "utf-8")
    service.index()
    assert old_snapshot.passages([1])[1].text  # a reader on the old generation still works
    assert service.snapshot.generation != old_snapshot.generation


def test_missing_index_says_how_to_build(tmp_path):
    settings = load_settings(env={}, backend="hash", index_dir=tmp_path / "none")
    with pytest.raises(IndexNotFoundError, match=r"There is no index in .*none/ yet. Build it with: qa-bot index"):
        QAService(settings).open()


def test_model_mismatch_is_refused_with_the_fix(hash_service, tmp_path):
    manifest = tmp_path / "index" / MANIFEST
    data = json.loads(manifest.read_text())
    data["model"] = "other-model"
    manifest.write_text(json.dumps(data))
    with pytest.raises(IndexMismatchError, match=r"built with hash model 'other-model'.*"
                                                 r"Re-index with: qa-bot index --rebuild"):
        LocalSnapshot.open(tmp_path / "index", "hash", "hash-384")


@pytest.mark.parametrize("damage", ["manifest", "faiss", "bm25", "granules", "db", "count"])
def test_damaged_files_are_reported_not_crashed(hash_service, tmp_path, damage):
    index_dir = tmp_path / "index"
    manifest = json.loads((index_dir / MANIFEST).read_text())
    if damage == "manifest":
        (index_dir / MANIFEST).write_text("{not json")
    elif damage == "count":
        manifest["passages"] = 99
        (index_dir / MANIFEST).write_text(json.dumps(manifest))
    else:
        (index_dir / segment_file(manifest, damage)).write_bytes(b"garbage" * 10)
    with pytest.raises(IndexCorruptError, match="Repair it with: qa-bot index"):
        LocalSnapshot.open(index_dir, "hash", "hash-384")


def test_rebuild_repairs_a_damaged_index(articles, hash_service, tmp_path):
    index_dir = tmp_path / "index"
    manifest = json.loads((index_dir / MANIFEST).read_text())
    (index_dir / segment_file(manifest, "faiss")).write_bytes(b"garbage")
    service = QAService(load_settings(env={}, backend="hash", index_dir=index_dir, articles_dir=articles))
    report = service.index()  # a damaged previous index is rebuilt from the articles
    assert report.passages_total == 17
    service.open()
    assert service.search(QUESTION).answered


def test_concurrent_indexers_are_refused(articles, tmp_path):
    import fcntl

    from qa_bot.errors import QABotError

    service = make_service(articles, tmp_path / "index")
    with open(tmp_path / "index" / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(QABotError, match="Another `qa-bot index` is updating"):
            service.index(rebuild=True)


def test_explicit_paths_add_without_removing_unless_pruned(articles, tmp_path):
    service = make_service(articles, tmp_path / "index")
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "neu.txt").write_text("Ein neuer Artikel über den Eiffelturm in Paris.", "utf-8")
    report = service.index([extra])
    assert (report.added, report.removed) == (["neu"], [])
    assert len(service.sources()) == 3 and service.info().documents == 3
    report = service.index([extra], prune=True)
    assert report.removed == ["000_a9b13bc05b2b618c", "002_eaf006b3a9e755d3"]
    assert [d.doc_id for d in service.sources()] == ["neu"]


def test_reader_two_builds_behind_still_reads(articles, tmp_path):
    import threading

    reader = make_service(articles, tmp_path / "index")
    writer = make_service(articles, tmp_path / "index")
    for name in ("a", "b"):  # two builds: the reader's generation files are deleted
        (articles / f"{name}.txt").write_text(f"Artikel {name}.", "utf-8")
        writer.index()
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("answer", reader.search(QUESTION)))
    thread.start()
    thread.join()
    assert out["answer"].answered
    assert reader.reload_if_changed() and len(reader.sources()) == 4
