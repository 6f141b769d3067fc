"""Hand-damaged index files, one row each: every damage gives one clear line (exit 1, no traceback) and
`qa-bot index` repairs it. Also write failures (disk full, read-only, I/O error on the switch) and the
checksums that make damage inside a file visible at all."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT

from qa_bot.cli import cli
from qa_bot.store.local.generations import LOCK, MANIFEST

QUESTION = "Wie heißt der nationale Sicherheitsberater der USA?"


@pytest.fixture
def run(articles, tmp_path, monkeypatch):
    monkeypatch.setenv("QA_BOT_BACKEND", "hash")
    monkeypatch.setenv("QA_BOT_ARTICLES_DIR", str(articles))
    monkeypatch.setenv("QA_BOT_INDEX_DIR", str(tmp_path / "index"))

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def manifest_of(index: Path) -> dict:
    return json.loads((index / MANIFEST).read_text())


def edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(index: Path) -> None:
        data = manifest_of(index)
        change(data)
        (index / MANIFEST).write_text(json.dumps(data))
    return damage


FILES = {"db": "passages-{}.sqlite", "faiss": "vectors-{}.faiss", "bm25": "bm25-{}.npz",
         "granules": "granules-{}.npz"}


def file_of(kind: str, index: Path) -> Path:
    return index / FILES[kind].format(manifest_of(index)["segments"][0]["name"])


def edit_segment(change: Callable[[dict], None]) -> Callable[[Path], None]:
    return edit_manifest(lambda m: change(m["segments"][0]))


def overwrite_share(kind: str, share: float) -> Callable[[Path], None]:
    """Random bytes over `share` of the file, in the middle (what a bad disk sector or a stray write does)."""
    def damage(index: Path) -> None:
        path = file_of(kind, index)
        data = bytearray(path.read_bytes())
        n = max(16, int(len(data) * share))
        at = len(data) // 2 - n // 2
        data[at:at + n] = random.Random(7).randbytes(n)
        path.write_bytes(bytes(data))
    return damage


def truncate(kind: str) -> Callable[[Path], None]:
    def damage(index: Path) -> None:
        path = file_of(kind, index)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return damage


def replace_by_folder(name: str | None = None, kind: str | None = None) -> Callable[[Path], None]:
    def damage(index: Path) -> None:
        path = index / name if name else file_of(kind, index)  # type: ignore[arg-type]
        if path.exists():
            path.unlink()
        path.mkdir()
    return damage


def delete(kind: str) -> Callable[[Path], None]:
    return lambda index: file_of(kind, index).unlink()


def set_key(key: str, value) -> Callable[[Path], None]:
    return edit_manifest(lambda m: m.__setitem__(key, value))


def drop_key(key: str) -> Callable[[Path], None]:
    return edit_manifest(lambda m: m.pop(key))


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    # name: (damage, what the one line must say)
    "manifest not JSON": (lambda i: (i / MANIFEST).write_text("{not json"), "manifest.json is damaged"),
    "manifest empty": (lambda i: (i / MANIFEST).write_text(""), "manifest.json is damaged"),
    "manifest a list": (lambda i: (i / MANIFEST).write_text("[1, 2]"), "manifest.json is damaged"),
    "manifest a folder": (replace_by_folder(MANIFEST), "manifest.json cannot be read"),
    "generation missing": (drop_key("generation"), "generation"),
    "built_at missing": (drop_key("built_at"), "built_at"),
    "segments missing": (drop_key("segments"), "segments"),
    "segment name a number": (edit_segment(lambda s: s.__setitem__("name", 5)), "segment name"),
    "segment name outside the folder": (edit_segment(lambda s: s.__setitem__("name", "../../etc/x")),
                                        "segment name"),
    "index_type hnsw on a flat index": (edit_segment(lambda s: s.__setitem__("index_type", "hnsw")), "hnsw"),
    "index_type unknown": (edit_segment(lambda s: s.__setitem__("index_type", "ivf")), "index_type"),
    "passages miscounted": (set_key("passages", 99), "inconsistent"),
    "segment passages miscounted": (edit_segment(lambda s: s.__setitem__("passages", 99)), "inconsistent"),
    "dim wrong": (set_key("dim", 512), "dimension"),
    "checksum altered": (edit_segment(lambda s: s["checksums"].__setitem__("bm25", "sha256:" + "0" * 64)),
                         "checksum"),
    "vectors 2% random bytes": (overwrite_share("faiss", 0.02), "checksum"),
    "vectors truncated": (truncate("faiss"), "damaged"),
    "vectors missing": (delete("faiss"), "missing"),
    "vectors a folder": (replace_by_folder(kind="faiss"), "cannot be read"),
    "SQLite 2% random bytes": (overwrite_share("db", 0.02), "checksum"),
    "SQLite a folder": (replace_by_folder(kind="db"), "cannot be read"),
    "SQLite missing": (delete("db"), "missing"),
    "BM25 garbage": (lambda i: file_of("bm25", i).write_bytes(b"garbage" * 10), "damaged"),
    "sentence vectors 2% random bytes": (overwrite_share("granules", 0.02), "checksum"),
}


@pytest.mark.parametrize("damage_name", list(DAMAGES))
def test_damaged_index_is_one_line_and_repaired_by_index(run, tmp_path, damage_name):
    index = tmp_path / "index"
    assert run("index").exit_code == 0
    damage, says = DAMAGES[damage_name]
    damage(index)

    broken = run("ask", QUESTION)
    assert broken.exit_code == 1 and broken.stdout == ""
    lines = broken.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and says in lines[0], broken.stderr
    assert "qa-bot index" in lines[0]

    repaired = run("index")
    assert repaired.exit_code == 0, repaired.stderr
    assert "Repaired: " in repaired.stdout and "rebuilt from the articles" in repaired.stdout
    assert "Jake Sullivan" in run("ask", QUESTION).stdout
    assert run("index").stdout.startswith("Index is up to date")
    leftovers = {p.name for p in index.iterdir() if p.is_dir()}
    assert leftovers == set(), leftovers  # folders in the way are gone, old generations collected


def test_lock_replaced_by_a_folder_does_not_stop_indexing(run, tmp_path, articles):
    index = tmp_path / "index"
    assert run("index").exit_code == 0
    replace_by_folder(LOCK)(index)
    assert "Jake Sullivan" in run("ask", QUESTION).stdout  # readers never take the lock
    (articles / "new.txt").write_text("Ein neuer Artikel über den Eiffelturm.", "utf-8")
    result = run("index")
    assert result.exit_code == 0 and "added  new" in result.stdout and (index / LOCK).is_file()


def test_damage_with_explicit_paths_asks_for_a_whole_rebuild(run, tmp_path):
    index = tmp_path / "index"
    assert run("index").exit_code == 0
    overwrite_share("faiss", 0.02)(index)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "neu.txt").write_text("Ein neuer Artikel.", "utf-8")
    result = run("index", str(extra))  # rebuilding from PATHS alone would drop every other article
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: The index in ") and "qa-bot index" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_checksums_are_recorded_and_match(run, tmp_path, articles):
    import hashlib

    for i in range(30):  # a base large enough that one small change is a new segment, not a compaction
        (articles / f"short{i}.txt").write_text(f"Meldung {i} aus Kiew über die Lage.", "utf-8")
    assert run("index").exit_code == 0
    (articles / "short0.txt").unlink()  # a deletion: the generation gets a deleted-….npz
    (articles / "new.txt").write_text("Ein neuer Artikel über den Eiffelturm.", "utf-8")
    assert run("index").exit_code == 0
    index = tmp_path / "index"
    manifest = manifest_of(index)

    def sha(name: str) -> str:
        return "sha256:" + hashlib.sha256((index / name).read_bytes()).hexdigest()

    assert len(manifest["segments"]) == 2 and manifest["deleted"]
    for segment in manifest["segments"]:
        assert segment["checksums"] == {kind: sha(p.format(segment["name"])) for kind, p in FILES.items()}
    assert manifest["deleted_checksum"] == sha(manifest["deleted"])
    (index / manifest["deleted"]).write_bytes(b"garbage")
    broken = run("ask", QUESTION)
    assert broken.exit_code == 1 and "deleted" in broken.stderr and "checksum" in broken.stderr
    assert "Repaired: " in run("index").stdout


# ---------------------------------------------------------------------------------- write failures

def _fail_at(monkeypatch, target: str, exc: BaseException) -> None:
    import importlib

    module, _, name = target.rpartition(".")
    owner = importlib.import_module(module) if not module.endswith("FaissVectorStore") else \
        importlib.import_module(module.rpartition(".")[0]).FaissVectorStore
    real = getattr(owner, name)

    def boom(*args, **kwargs):
        if name == "connect" and (kwargs.get("readonly") or (len(args) > 1 and args[1])):
            return real(*args, **kwargs)  # reading the current index still works: only writes fail
        raise exc
    monkeypatch.setattr(target, boom)


@pytest.mark.parametrize("target, exc, says", [
    ("os.replace", OSError(errno.EIO, "Input/output error"), "Check the disk"),
    ("qa_bot.store.local.segment.connect", sqlite3.OperationalError("attempt to write a readonly database"),
     "writable"),
    ("qa_bot.store.local.segment.connect", sqlite3.OperationalError("database or disk is full"), "disk space"),
    ("qa_bot.store.local.faiss_store.FaissVectorStore.save",
     OSError(errno.ENOSPC, "No space left on device"), "disk space"),
    ("qa_bot.store.local.build.fsync", OSError(errno.EROFS, "Read-only file system"), "writable"),
])
def test_write_failures_are_one_line_and_keep_the_index(run, tmp_path, articles, monkeypatch, target, exc, says):
    index = tmp_path / "index"
    assert run("index").exit_code == 0
    before = {p.name: p.read_bytes() for p in index.iterdir() if p.is_file()}
    (articles / "new.txt").write_text("Ein neuer Artikel über den Eiffelturm.", "utf-8")
    with monkeypatch.context() as patched:
        _fail_at(patched, target, exc)
        result = run("index")
    assert result.exit_code == 1 and result.stdout.count("\n") <= 2
    [line] = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert line.startswith(f"Error: Cannot write the index in {index}/") and says in line, result.stderr
    assert "the previous index is unchanged" in line and "Traceback" not in result.stderr
    after = {p.name: p.read_bytes() for p in index.iterdir() if p.is_file()}
    assert after == before  # nothing half-written left behind, nothing of the old generation touched
    assert "Jake Sullivan" in run("ask", QUESTION).stdout


def test_faiss_write_error_is_reported_as_a_write_error(tmp_path):
    import numpy as np

    from qa_bot.store.local.faiss_store import FaissVectorStore

    store = FaissVectorStore.build(np.arange(3), np.eye(3, 8, dtype=np.float32), 8)
    with pytest.raises(OSError):
        store.save(tmp_path / "no-such-folder" / "vectors.faiss")


def test_full_disk_while_indexing_is_one_line(tmp_path, articles):
    """A real failing write, which root gets too: the file size limit makes every write past 64 KiB fail
    (EFBIG), as a full disk makes them fail with ENOSPC."""
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536)); "
            "from qa_bot.cli import main; sys.argv = ['qa-bot', 'index']; main()")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_BOT_", "TELEGRAM_"))}
    env.update({"PYTHONPATH": str(ROOT), "QA_BOT_BACKEND": "hash", "QA_BOT_ARTICLES_DIR": str(articles),
                "QA_BOT_INDEX_DIR": str(tmp_path / "index")})
    for i in range(60):  # small passages, many vectors: the vector file is the first to pass 64 KiB
        (articles / f"short{i}.txt").write_text(f"Meldung {i} aus Kiew.", "utf-8")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 1, result.stderr
    errors = [x for x in result.stderr.splitlines() if x.startswith("Error:")]
    assert len(errors) == 1 and "disk space" in errors[0] and "Traceback" not in result.stderr
    leftovers = [p.name for p in (tmp_path / "index").iterdir() if p.name not in (LOCK,)]
    assert leftovers == []  # nothing half-written, and no manifest: there was no index before


def test_folder_in_the_way_of_the_index_is_one_line(run, tmp_path):
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(cli, ["index", "--index-dir", str(tmp_path / "file" / "index")])
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Error: Cannot create the index folder")
    shutil.rmtree(tmp_path / "file", ignore_errors=True)


def test_index_load_bench_reports_the_cost_of_checksums() -> None:
    import json as json_

    result = CliRunner().invoke(cli, ["bench", "--index-load", "200", "--json"], env={})
    assert result.exit_code == 0, result.output
    [row] = json_.loads(result.stdout.strip().splitlines()[-1])
    assert row["passages"] >= 200 and row["files_mib"] > 0
    assert row["load_ms"] > 0 and row["load_without_checksums_ms"] > 0 and row["checksums_ms"] > 0
