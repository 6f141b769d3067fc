"""Typed values shared by the core and every front end."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MODES = ("fused", "dense", "bm25")  # how a question is ranked: both rankers fused, or one alone


@dataclass(frozen=True)
class Source:
    """Where a passage comes from: enough to cite it."""

    doc_id: str
    title: str
    paragraph: int
    path: str
    url: str | None = None
    outlet: str | None = None
    published: str | None = None


LEAD_CHARS = 400


@dataclass(frozen=True)
class SearchResult:
    """One quoted passage. `highlight` is the sentence that best answers the question, and
    `highlight_start`/`highlight_end` its character span inside `text`."""

    rank: int
    score: float
    text: str
    highlight: str
    highlight_start: int
    highlight_end: int
    source: Source
    passage_id: int = -1
    sentences: tuple[tuple[int, int], ...] = ()  # sentence spans inside `text`

    def lead(self, max_chars: int = LEAD_CHARS) -> tuple[int, int]:
        """The span to show first: the highlighted sentence, widened by whole neighbouring sentences
        (the one before first) while the span stays under `max_chars`. A reader gets the answer and
        its context at a glance; the full passage stays one tap or flag away."""
        start, end = self.highlight_start, self.highlight_end
        spans = [s for s in self.sentences if s[1] > s[0]]
        if len(self.text) <= max_chars * 9 // 8:  # cutting a short tail saves too little
            return 0, len(self.text)
        if not spans or (start, end) not in spans:
            return start, end
        i = j = spans.index((start, end))
        grew = True
        while grew:
            grew = False
            if i > 0 and spans[j][1] - spans[i - 1][0] <= max_chars:
                i, grew = i - 1, True
            if j + 1 < len(spans) and spans[j + 1][1] - spans[i][0] <= max_chars:
                j, grew = j + 1, True
        lo = 0 if i == 0 else spans[i][0]
        hi = len(self.text) if j == len(spans) - 1 else spans[j][1]
        return lo, hi

    def to_json(self) -> dict[str, Any]:
        src = self.source
        return {
            "rank": self.rank,
            "score": round(float(self.score), 4),
            "text": self.text,
            "highlight": self.highlight,
            "source": {"doc_id": src.doc_id, "title": src.title, "paragraph": src.paragraph,
                       "path": src.path, "url": src.url},
        }


@dataclass(frozen=True)
class Answer:
    """What a question gets. `answered` is False when nothing was relevant enough, and then `results` is
    empty and front ends say they found nothing; so also for a page (offset) past the last relevant
    passage: `answered` is True exactly when `results` is not empty."""

    query: str
    answered: bool
    results: list[SearchResult] = field(default_factory=list)
    top_score: float = 0.0
    threshold: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"query": self.query, "answered": self.answered,
                "results": [r.to_json() for r in self.results]}


@dataclass(frozen=True)
class IndexInfo:
    """Facts about the index generation in use, for front ends (health, /stats, `qa-bot sources`)."""

    engine: str
    generation: str
    backend: str
    model: str
    dim: int
    index_type: str
    passages: int
    documents: int
    built_at: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DocumentInfo:
    doc_id: str
    title: str
    path: str
    url: str | None
    outlet: str | None
    published: str | None
    passages: int


@dataclass
class IndexReport:
    """What `index` changed, for the CLI to print and tests to check."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    passages_embedded: int = 0
    passages_total: int = 0
    seconds: float = 0.0
    index_type: str = ""
    empty: list[str] = field(default_factory=list)  # paths of added or changed articles with nothing to quote
    repaired: str | None = None  # what was damaged, when the index had to be rebuilt from the articles

    @property
    def modified(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
