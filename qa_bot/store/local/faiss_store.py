"""The local engine's vector index: FAISS `IndexIDMap2` over a flat or HNSW inner-product index.

Ids are explicit int64 (the SQLite passage ids); vectors are L2-normalised and compared by inner
product. Small corpora get an exact flat index; large ones an HNSW graph (see `choose_index_type`).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np

from ...errors import IndexCorruptError

# Measured with `qa-bot bench` on 2 cores (README, "Performance"): one exact scan of 384-d vectors costs
# ~0.2 ms at 5k vectors but ~1.2 ms at 10k and ~7 ms at 50k (the matrix no longer fits in cache), so
# an HNSW graph from 8k vectors on.
HNSW_THRESHOLD = 8_000
# M=16 keeps 1M 384-d vectors within 2 GiB (links add ~130 B/vector, against ~260 B at M=32) and builds
# faster. efConstruction below 80 cost recall that no efSearch won back; efSearch 256 is what recall@10
# >= 0.95 against exact needed on the bench's hard clustered data at 100k and 1M (~1 ms a search).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256


def choose_index_type(count: int) -> str:
    return "flat" if count < HNSW_THRESHOLD else "hnsw"


def _faiss():
    import faiss

    # FAISS's OpenMP threads fight the model's threads on small machines: one thread is faster.
    faiss.omp_set_num_threads(1)
    return faiss


class Exclusion:
    """Ids a search must skip, as a FAISS selector built once (the selectors are kept referenced here:
    FAISS holds raw pointers to them)."""

    def __init__(self, ids: np.ndarray) -> None:
        faiss = _faiss()
        self.ids = np.ascontiguousarray(ids, dtype=np.int64)
        self._batch = faiss.IDSelectorBatch(self.ids)
        self._not = faiss.IDSelectorNot(self._batch)
        self._params = {"flat": faiss.SearchParameters(sel=self._not),
                        "hnsw": faiss.SearchParametersHNSW(sel=self._not, efSearch=HNSW_EF_SEARCH)}

    def params(self, index_type: str):
        return self._params[index_type]

    def __len__(self) -> int:
        return len(self.ids)


class FaissVectorStore:
    """FAISS `IndexIDMap2` over a flat or HNSW inner-product index."""

    def __init__(self, index, index_type: str) -> None:
        self._index = index
        self.index_type = index_type
        self.dim = index.d

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, dim: int, index_type: str = "auto"
              ) -> FaissVectorStore:
        faiss = _faiss()
        if index_type == "auto":
            index_type = choose_index_type(len(ids))
        if index_type == "flat":
            inner = faiss.IndexFlatIP(dim)
        elif index_type == "hnsw":
            inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            inner.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            raise ValueError(f"unknown index type {index_type!r}")
        index = faiss.IndexIDMap2(inner)
        if len(ids):
            if index_type == "hnsw" and len(ids) > 10_000:
                faiss.omp_set_num_threads(os.cpu_count() or 1)  # building: use every core
            try:
                index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                   np.ascontiguousarray(ids, dtype=np.int64))
            finally:
                faiss.omp_set_num_threads(1)
        return cls(index, index_type)

    @staticmethod
    def type_on_disk(path: Path) -> str | None:
        """The index type a saved file holds, from its header alone (no loading): the indexer's check
        that the manifest and the file agree. None when the header is neither."""
        with open(path, "rb") as fh:
            header = fh.read(64)
        if not header.startswith(b"IxM2"):
            return None
        return "hnsw" if b"IHNf" in header else "flat" if b"IxFI" in header else None

    @classmethod
    def load(cls, path: Path, index_type: str) -> FaissVectorStore:
        faiss = _faiss()
        try:
            index = faiss.read_index(str(path))
            inner = faiss.downcast_index(index.index)
        except Exception as exc:  # noqa: BLE001 - FAISS raises RuntimeError with C++ text
            raise IndexCorruptError(f"The vector index {path} cannot be read ({str(exc).splitlines()[0][:120]}). "
                                    "Repair it with: qa-bot index") from None
        actual = "hnsw" if hasattr(inner, "hnsw") else "flat"
        if actual != index_type:
            raise IndexCorruptError(f"The manifest says the vector index is {index_type}, but {path} holds a "
                                    f"{actual} index. Repair it with: qa-bot index")
        if index_type == "hnsw":
            inner.hnsw.efSearch = HNSW_EF_SEARCH
        return cls(index, index_type)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, query: np.ndarray, k: int, exclude: Exclusion | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the k nearest vectors, best first, skipping the ids of `exclude` (deleted
        passages: HNSW cannot remove a vector in place, so deletions are a filter until a compaction)."""
        k = max(1, min(k, len(self)))
        params = None
        if exclude is not None:
            params = exclude.params(self.index_type)
        scores, ids = self._index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k,
                                         params=params)
        return scores[0], ids[0]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._index.reconstruct_batch(ids)

    def all_ids(self) -> np.ndarray:
        faiss = _faiss()
        return faiss.vector_to_array(self._index.id_map).astype(np.int64)

    def save(self, path: Path) -> None:
        try:
            _faiss().write_index(self._index, str(path))
        except RuntimeError as exc:  # FAISS reports a failed write (full disk, no folder) as C++ text
            text = str(exc)
            code = next((c for c in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EACCES,
                                     errno.ENOENT) if os.strerror(c) in text), errno.EIO)
            raise OSError(code, f"{os.strerror(code)} (FAISS could not write {path.name})") from None
