"""The local engine's update: articles in, a new generation out, at a cost in proportion to the change.

New and changed articles go into one new segment (split, embedded, indexed: nothing else is); removed
and changed ones are added to the generation's list of deleted passages. The other segments' files are
not touched. Segments are merged when searching them one by one would cost too much (see
`compaction_plan`); a merge copies rows, vectors, postings and granules without embedding or analysing
any text. The new generation becomes visible in one atomic step (see generations.py); a failure at any
point leaves the previous one as it was.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ...embed import Embedder
from ...errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, IndexWriteError, QABotError
from ...ingest import Document
from ...types import IndexReport
from .faiss_store import FaissVectorStore
from .generations import (
    DELETED,
    FORMAT_VERSION,
    Deleted,
    Manifest,
    collect_garbage,
    commit,
    fsync,
    index_lock,
    new_generation,
    read_manifest,
    versions,
)
from .segment import REBUILD, Segment, SegmentDB, SegmentInfo, Stamps, checksum, merge_segments, write_segment

# When segments are merged. Each update adds one segment, and a search visits every segment, so:
MAX_DELTA_SEGMENTS = 8  # more segments after the first (the base) than this: merge those into one
COMPACT_DELTA_SHARE = 0.25  # the later segments hold more than this share of the base's passages: merge all
COMPACT_DELETED_SHARE = 0.2  # more than this share of the stored passages is deleted: merge all
# A merge of everything is a compaction: one segment, the deleted passages gone, the FAISS index built
# anew (HNSW cannot remove vectors). Growth by a quarter at a time keeps its amortised cost per passage
# constant; until then deleted passages are only filtered out of searches.


class _Current:
    """The indexer's view of the generation in use: its segments' passage stores and deletions, checked
    for missing or damaged files, without loading any vectors or postings."""

    def __init__(self, index_dir: Path, manifest: Manifest, stamps: Stamps) -> None:
        self.manifest = manifest
        self.deleted = Deleted.load(index_dir, manifest)
        self.dbs: list[SegmentDB] = []
        try:
            for info in manifest.segments:
                info.check_files(index_dir, stamps)
                vectors = index_dir / info.files()["faiss"]
                if FaissVectorStore.type_on_disk(vectors) != info.index_type:
                    raise IndexCorruptError(f"The manifest says the vector index is {info.index_type}, but "
                                            f"{vectors} holds another. {REBUILD}")
                db = SegmentDB(index_dir, info)
                self.dbs.append(db)
                if db.query("SELECT count(*) FROM passages")[0][0] != info.passages:
                    raise IndexCorruptError(f"{db.path} does not hold the passages the manifest says. {REBUILD}")
            stored = sum(info.passages for info in manifest.segments)
            if stored - len(self.deleted) != manifest.passages:
                raise IndexCorruptError(f"The index in {index_dir}/ is inconsistent ({stored} passages in its "
                                        f"segments, {len(self.deleted)} deleted, manifest says "
                                        f"{manifest.passages}). {REBUILD}")
        except BaseException:
            self.close()
            raise

    def live_documents(self) -> dict[str, tuple[int, str]]:
        """doc_id -> (segment number, content hash) of every article not deleted."""
        out: dict[str, tuple[int, str]] = {}
        for i, db in enumerate(self.dbs):
            for doc_id, content_hash in db.query("SELECT doc_id, content_hash FROM documents"):
                if (db.info.name, doc_id) not in self.deleted.documents:
                    out[doc_id] = (i, content_hash)
        return out

    def passage_ids(self, segment: int, doc_ids: Sequence[str]) -> list[int]:
        marks = ",".join("?" * len(doc_ids))
        return [r[0] for r in self.dbs[segment].query(f"SELECT id FROM passages WHERE doc_id IN ({marks})",
                                                      list(doc_ids))]

    def close(self) -> None:
        for db in self.dbs:
            db.close()


def build_index(index_dir: Path, documents: Sequence[Document], embedder: Embedder, max_passage_chars: int,
                rebuild: bool = False, progress: bool = False, index_type: str = "auto",
                on_stage: Callable[[str], None] | None = None, prune: bool = True) -> IndexReport:
    """Bring the index in `index_dir` up to date with `documents`: embed only new or changed articles,
    drop the indexed articles not among `documents` (unless `prune` is False: adding a few files), then
    switch to the new generation atomically. A damaged index is rebuilt from `documents` (the report says
    so); a write that fails (full disk, read-only folder) is one IndexWriteError, the old index intact."""
    started = time.perf_counter()
    index_dir = Path(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QABotError(f"Cannot create the index folder {index_dir}: {exc.strerror or exc}") from None
    try:
        with index_lock(index_dir):
            report = _open_and_update(index_dir, documents, embedder, max_passage_chars, rebuild, progress,
                                      index_type, on_stage or (lambda _msg: None), prune)
    except (OSError, sqlite3.Error) as exc:
        raise IndexWriteError(write_problem(index_dir, exc)) from None
    report.seconds = time.perf_counter() - started
    return report


def _open_and_update(index_dir: Path, documents: Sequence[Document], embedder: Embedder, max_chars: int,
                     rebuild: bool, progress: bool, index_type: str, stage: Callable[[str], None],
                     prune: bool) -> IndexReport:
    old_manifest: Manifest | None = None
    damage: str | None = None
    stamps = Stamps(index_dir)
    try:
        old_manifest = read_manifest(index_dir)
    except IndexCorruptError as exc:
        damage = str(exc)
    except (IndexNotFoundError, IndexMismatchError):
        pass
    current: _Current | None = None
    if (not rebuild and old_manifest is not None and old_manifest.backend == embedder.backend
            and old_manifest.model == embedder.model_name and old_manifest.max_passage_chars == max_chars):
        try:
            if old_manifest.dim != embedder.dim:
                raise IndexCorruptError(f"The manifest in {index_dir}/ gives the vectors dimension "
                                        f"{old_manifest.dim}, the model's is {embedder.dim}. {REBUILD}")
            current = _Current(index_dir, old_manifest, stamps)
        except QABotError as exc:
            damage = str(exc)  # the articles are the source of truth: build from scratch
    if damage and not prune:
        raise IndexCorruptError(f"The index in {index_dir}/ is damaged ({_reason(damage)}); indexing only "
                                f"some articles would drop the others. {REBUILD}")
    previous = None if damage else old_manifest  # a damaged generation is not kept for readers
    try:
        report = _update(index_dir, documents, embedder, max_chars, current, previous, progress, index_type,
                         stage, prune, stamps)
    finally:
        if current is not None:
            current.close()
    report.repaired = _reason(damage) if damage else None
    return report


def _reason(message: str) -> str:
    """The damage itself, without the advice to run `qa-bot index` that the message ends with."""
    return message.split(f" {REBUILD}")[0].rstrip(". ")


def write_problem(index_dir: Path, exc: BaseException) -> str:
    """One line for a failed write: what happened, that nothing was lost, and what to do."""
    code = getattr(exc, "errno", None)
    text = f"{getattr(exc, 'strerror', None) or exc}"
    if code == errno.EFBIG:
        fix = "Free some disk space or raise the file size limit (ulimit -f), then run qa-bot index again."
    elif code in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in text:
        fix = "Free some disk space, then run qa-bot index again."
    elif code in (errno.EROFS, errno.EACCES, errno.EPERM) or "readonly" in text or "unable to open" in text:
        fix = "Make the folder writable (or set QA_BOT_INDEX_DIR to one that is), then run qa-bot index again."
    else:
        fix = "Check the disk, then run qa-bot index again."
    return f"Cannot write the index in {index_dir}/ ({text}); the previous index is unchanged. {fix}"


def compaction_plan(segments: Sequence[SegmentInfo], deleted: int) -> slice | None:
    """Which segments to merge into one now, if any (see the thresholds above)."""
    if not segments:
        return None
    stored = sum(s.passages for s in segments)
    later = stored - segments[0].passages
    if (len(segments) > 1 and later > COMPACT_DELTA_SHARE * segments[0].passages) or \
            deleted > COMPACT_DELETED_SHARE * stored:
        return slice(0, len(segments))
    if len(segments) - 1 > MAX_DELTA_SEGMENTS:
        return slice(1, len(segments))
    return None


def _update(index_dir: Path, documents: Sequence[Document], embedder: Embedder, max_chars: int,
            current: _Current | None, old_manifest: Manifest | None, progress: bool, index_type: str,
            stage: Callable[[str], None], prune: bool, stamps: Stamps) -> IndexReport:
    report = IndexReport()
    live = current.live_documents() if current else {}
    new_docs = {d.doc_id: d for d in documents}
    for doc_id, doc in sorted(new_docs.items()):
        if doc_id not in live:
            report.added.append(doc_id)
        elif live[doc_id][1] != doc.content_hash:
            report.changed.append(doc_id)
        else:
            report.unchanged.append(doc_id)
    report.removed = sorted(set(live) - set(new_docs)) if prune else []
    if current is not None and not report.modified:
        report.passages_total = current.manifest.passages
        report.index_type = current.manifest.index_type
        stamps.save(current.manifest.files())
        return report

    generation = new_generation()
    written: list[str] = []  # files of this update, removed again if it fails
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    segments = list(current.manifest.segments) if current else []
    deleted = current.deleted if current else Deleted.none()
    next_id = current.manifest.next_id if current else 1
    try:
        gone = report.removed + report.changed
        if gone and current is not None:
            ids: list[int] = []
            by_segment: dict[int, list[str]] = {}
            for doc_id in gone:
                by_segment.setdefault(live[doc_id][0], []).append(doc_id)
            for seg, doc_ids in by_segment.items():
                ids += current.passage_ids(seg, doc_ids)
            deleted = Deleted(np.union1d(deleted.passage_ids, np.array(ids, dtype=np.int64)),
                              deleted.documents | {(segments[live[d][0]].name, d) for d in gone})
        todo = [new_docs[d] for d in report.added + report.changed]
        if todo:
            written += SegmentInfo(generation, 0, 0, "", 0, 0).files().values()
            info = write_segment(index_dir, generation, todo, embedder, max_chars, next_id,
                                 index_type if not segments else "auto", now, progress, stage)
            segments.append(info)
            next_id = max(next_id, info.last_id + 1)
            report.passages_embedded = info.passages
        segments, deleted = _compact(index_dir, segments, deleted, embedder.dim, index_type, stage, written)
        deleted_file = deleted_checksum = None
        if len(deleted) or deleted.documents:
            deleted_file = DELETED.format(generation)
            written.append(deleted_file)
            deleted.save(index_dir / deleted_file)
            deleted_checksum = checksum(index_dir / deleted_file)
        for name in written:
            fsync(index_dir / name)
        live_passages = sum(s.passages for s in segments) - len(deleted)
        manifest = Manifest(
            format_version=FORMAT_VERSION, generation=generation, backend=embedder.backend,
            model=embedder.model_name, dim=embedder.dim, index_type=segments[0].index_type if segments else "flat",
            passages=live_passages, documents=sum(s.documents for s in segments) - len(deleted.documents),
            max_passage_chars=max_chars, segments=tuple(segments), next_id=next_id, built_at=now,
            deleted=deleted_file, deleted_passages=len(deleted), deleted_checksum=deleted_checksum,
            previous_generation=old_manifest.generation if old_manifest else None,
            previous_files=tuple(old_manifest.files()) if old_manifest else (),
            versions=versions(embedder.backend))
        commit(index_dir, manifest)
    except BaseException:
        for name in written:  # a failed update leaves the previous generation as it was
            with contextlib.suppress(OSError):
                (index_dir / name).unlink()
            with contextlib.suppress(OSError):
                (index_dir / f"{name}-journal").unlink()
        raise
    collect_garbage(index_dir, manifest)
    for info in manifest.segments:  # the files this update wrote: their checksums are known already
        for kind, name in info.files().items():
            if name in written and kind in info.checksums:
                stamps.remember(index_dir / name, info.checksums[kind])
    if manifest.deleted and manifest.deleted_checksum:
        stamps.remember(index_dir / manifest.deleted, manifest.deleted_checksum)
    stamps.save(manifest.files())
    report.passages_total = manifest.passages
    report.index_type = manifest.index_type
    return report


def _compact(index_dir: Path, segments: list[SegmentInfo], deleted: Deleted, dim: int, index_type: str,
             stage: Callable[[str], None], written: list[str]) -> tuple[list[SegmentInfo], Deleted]:
    """Merge the segments `compaction_plan` names, if any; returns the new segment list and deletions."""
    plan = compaction_plan(segments, len(deleted))
    if plan is None:
        return segments, deleted
    chosen = segments[plan]
    everything = plan.start == 0
    stage(f"Merging {len(chosen)} index segment(s)" + (" (compaction)" if everything else ""))
    name = new_generation()
    written += SegmentInfo(name, 0, 0, "", 0, 0).files().values()
    loaded: list[Segment] = []
    try:
        loaded = [Segment(index_dir, info) for info in chosen]
        merged = merge_segments(index_dir, name, loaded, deleted.passage_ids, set(deleted.documents), dim,
                                index_type if everything else "auto")
    finally:
        for seg in loaded:
            seg.close()
    covered = deleted.passage_ids[(deleted.passage_ids >= chosen[0].first_id)
                                  & (deleted.passage_ids <= chosen[-1].last_id)]
    rest = deleted.without({s.name for s in chosen}, covered)
    return segments[:plan.start] + [merged], rest

