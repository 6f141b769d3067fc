"""The store interface: what the retriever and the service need from an index, whatever holds it.

An engine (the local FAISS + SQLite folder, or a database server) offers two things: a read-only
`Snapshot` of one index generation, which answers every question asked while it is in use, and an
update entry point that brings the index up to date with a set of articles and publishes a new
generation atomically. Readers never see half of an update: they keep their snapshot until they open
the next one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ..embed import Embedder
from ..errors import IndexMismatchError
from ..ingest import Document
from ..types import DocumentInfo, IndexInfo, IndexReport, Source


@dataclass(frozen=True)
class PassageRow:
    """A stored passage: its text, sentence spans (for highlighting) and where it comes from."""

    id: int
    text: str
    sentences: list[tuple[int, int]]
    source: Source


def check_compatible(info: IndexInfo, backend: str, model: str, where: str) -> None:
    """Refuse an index built by another backend or model: its vectors mean something else."""
    if info.backend != backend or info.model != model:
        raise IndexMismatchError(
            f"The index in {where} was built with {info.backend} model {info.model!r}, but the configured "
            f"one is {backend} model {model!r}. Re-index with: qa-bot index --rebuild  "
            "(or set QA_BOT_BACKEND/QA_BOT_MODEL to match the index)")


@runtime_checkable
class Snapshot(Protocol):
    """One index generation, read-only; safe to share between threads. A reload opens a new one."""

    @property
    def info(self) -> IndexInfo: ...

    @property
    def generation(self) -> str: ...

    @property
    def langs(self) -> tuple[str, ...]:
        """The corpus languages (questions are analysed in each of them)."""

    def __len__(self) -> int:
        """Passages in this generation."""

    # -- passages and articles
    def passages(self, ids: Sequence[int]) -> dict[int, PassageRow]: ...

    def passage_ids(self) -> np.ndarray:
        """Every passage id, ascending."""

    def documents(self) -> list[DocumentInfo]: ...

    # -- dense side
    def dense_search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of the k nearest passage vectors to one query, best first; missing slots are -1."""

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored passage vectors of `ids`, in that order."""

    def dense_scores(self, ids: np.ndarray, vectors: np.ndarray, query: np.ndarray,
                     weights: tuple[float, float, float] | None = None) -> np.ndarray:
        """The blended passage / best sentence / paragraph score of each of `ids` (see granules.py);
        `weights` of the three cosines, the model's calibrated ones (None: granules.DEFAULT_WEIGHTS)."""

    def sentence_vectors(self, pid: int) -> np.ndarray | None:
        """Vectors of the sentences of a multi-sentence passage (None for one sentence)."""

    # -- both sides at once
    def candidates(self, query: str, qvec: np.ndarray, k: int, dense: bool = True, lexical: bool = True
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(dense ids best first, lexical ids best first, their `lexical_top` scores): the candidates of
        one search, read from one state of the index (a database engine answers in one statement)."""

    # -- lexical side
    def lexical_top(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(passage ids, scores in [0, 1] normalised by the query's ideal score) of the k best, best first."""

    def query_terms(self, query: str) -> list[str]:
        """The question's analysed terms (for highlighting)."""

    def close(self) -> None: ...


class Engine(Protocol):
    """Where an index lives: opens snapshots of it and updates it."""

    name: str

    def generation(self) -> str:
        """The generation a new snapshot would open; IndexNotFoundError when there is no index yet."""

    def open_snapshot(self, backend: str, model: str) -> Snapshot: ...

    def update(self, documents: Sequence[Document], embedder: Embedder, max_passage_chars: int, *,
               rebuild: bool = False, progress: bool = False, index_type: str = "auto",
               on_stage: Callable[[str], None] | None = None, prune: bool = True) -> IndexReport:
        """Bring the index up to date with `documents` (embedding only new or changed articles; dropping
        the indexed articles not among them unless `prune` is False), then publish the new generation."""
