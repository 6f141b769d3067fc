"""Hybrid retrieval: dense (FAISS) and BM25, fused; near-duplicates dropped; abstention; highlights.

Fusion is a convex combination of the dense cosine and the BM25 score normalised by the question's
ideal BM25 score. Unlike rank fusion, the BM25 part then weighs only as much as the question matches
the corpus lexically: a German question against German articles gets a strong lexical vote, an English
one only for its names and numbers, a Russian one almost none (see README, "Retrieval quality").
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np

from .calibration import calibration_for
from .embed import Embedder
from .errors import QuestionError
from .lang import STOPWORDS, WORD_RE, detect_language, words
from .store import PassageRow, Snapshot
from .text import one_line
from .types import MODES, Answer, SearchResult

MAX_QUESTION_CHARS = 1000  # models read ~128-256 tokens; the rest would only cost time
FETCH_MIN = 30  # candidates over-fetched from each ranker before fusing
DUPLICATE_COSINE = 0.93
STAGES = ("encode", "dense_search", "bm25_top", "fuse", "passages", "highlight")  # `search(timings=...)`


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
        ranked = self._rank(query, qvec, offset + k, mode, timings)
        laps.restart()
        confidence = self._confidence(ranked)
        top = float(confidence[0]) if len(confidence) else 0.0
        if not len(confidence) or (mode != "bm25" and top < self.min_score):
            return Answer(query=query, answered=False, top_score=top, threshold=self.min_score)
        # Passages below the threshold are noise by the same measure that decides abstention.
        page = [(int(pid), float(score)) for pid, score, conf in
                zip(ranked.ids[offset:offset + k], ranked.fused[offset:offset + k], confidence[offset:offset + k])
                if mode == "bm25" or conf >= self.min_score]
        if not page:  # "more" asked past the last relevant passage: nothing on this page answers
            return Answer(query=query, answered=False, top_score=top, threshold=self.min_score)
        rows = self.snapshot.passages([pid for pid, _ in page])
        laps.lap("passages")
        terms = highlight_terms(query, self.snapshot.query_terms(query), self.snapshot.langs)
        results = []
        for rank, (pid, score) in enumerate(page, start=offset + 1):
            row = rows[pid]
            hs, he = highlight_span(row, self.snapshot.sentence_vectors(pid), qvec, terms, self.snapshot.langs,
                                    self.calibration.highlight_lexical_weight)
            results.append(SearchResult(rank=rank, score=score, text=row.text, highlight=row.text[hs:he],
                                        highlight_start=hs, highlight_end=he, source=row.source,
                                        passage_id=pid, sentences=tuple(row.sentences)))
        laps.lap("highlight")
        return Answer(query=query, answered=True, results=results, top_score=top, threshold=self.min_score)

    def rank(self, query: str, qvec: np.ndarray, k: int, mode: str = "fused",
             timings: dict[str, float] | None = None) -> list[tuple[int, float]]:
        """(passage id, fused score) best first, near-duplicates removed, at least `k` long when possible."""
        ranked = self._rank(query, qvec, k, mode, timings)
        return [(int(pid), float(score)) for pid, score in zip(ranked.ids, ranked.fused)]

    def _rank(self, query: str, qvec: np.ndarray, k: int, mode: str, timings: dict[str, float] | None) -> _Ranked:
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
        langs = self.snapshot.langs
        same_language = detect_language(query, default=langs[0] if langs else "de") in (langs or ("de",))
        if not lexical_of:
            return _Ranked.empty(same_language)
        ids = np.fromiter(lexical_of, dtype=np.int64, count=len(lexical_of))
        vecs = self.snapshot.vectors(ids)  # also for the near-duplicate check
        lexical = np.fromiter(lexical_of.values(), dtype=np.float32, count=len(lexical_of))
        if mode == "bm25":
            dense = np.zeros(len(ids), dtype=np.float32)
            fused = lexical
        else:
            # exact dense scores for every candidate, also those only BM25 found
            dense = self.snapshot.dense_scores(ids, vecs, qvec, self.calibration.granule_weights)
            if mode == "dense":
                fused = dense
            else:
                w = self.bm25_weight
                if w is None:
                    w = self.calibration.weight(detect_language(query, default=langs[0] if langs else "de"), langs)
                fused = (1 - w) * dense + w * lexical
        order = np.argsort(-fused, kind="stable")
        kept = _drop_duplicates(vecs[order], k)
        by_dense = np.sort(dense)[::-1]
        baseline = float(np.mean(by_dense[5:20] if len(by_dense) > 5 else by_dense))
        laps.lap("fuse")
        pick = order[kept]
        return _Ranked(ids[pick], fused[pick], dense[pick], lexical[pick], baseline, same_language)

    def _confidence(self, ranked: _Ranked) -> np.ndarray:
        """Per ranked passage, what abstention compares with `min_score`."""
        model = self.calibration.abstention
        if model is None:
            return ranked.fused
        return model.confidence(ranked.dense, ranked.dense - ranked.baseline, ranked.lexical, ranked.same_language)


@dataclass(frozen=True)
class _Ranked:
    """The ranked candidates with the evidence abstention weighs (arrays aligned, best first)."""

    ids: np.ndarray
    fused: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray
    baseline: float  # the question's typical dense score over the corpus (prominence reference)
    same_language: bool

    @classmethod
    def empty(cls, same_language: bool) -> _Ranked:
        none = np.zeros(0, dtype=np.float32)
        return cls(np.zeros(0, dtype=np.int64), none, none, none, 0.0, same_language)


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


def _drop_duplicates(vecs: np.ndarray, k: int) -> np.ndarray:
    """Positions (into `vecs`, best first) of the first `k` passages that do not repeat a better one: the
    same story syndicated by two outlets, or re-published with a changed date, embeds to (nearly) the
    same vector."""
    kept: list[int] = []
    for i in range(len(vecs)):
        if len(kept) >= k:
            break
        if not kept or float(np.max(vecs[kept] @ vecs[i])) < DUPLICATE_COSINE:
            kept.append(i)
    return np.array(kept, dtype=np.int64)


# Words that ask for a quantity; a sentence with a number (or a number word) then shares a term with the
# question: "Wie viele weitere Soldaten…?" is answered by "…ein paar tausend weitere…".
QUANTITY_CUES = frozenset("""viele wieviel wievielen how many much сколько скільки cuántos cuántas cuánto
    combien quanti quante ile kolik hoeveel""".split())
NUMBER_WORDS = frozenset("""hundert tausend million millionen milliarde milliarden dutzend hundred thousand
    million millions billion dozen сотни тысяч тысячи миллион миллиона миллионов""".split())
NUMBER_TERM = "#number"
_DIGIT = re.compile(r"\d")


def highlight_terms(query: str, analysed: list[str], langs: tuple[str, ...] = ()) -> list[frozenset[str]]:
    """What the question asks about, one entry per content word: the forms it may take in a sentence
    (the word, its stems in the corpus languages). Stopwords of any language are left out ("der", "what",
    "что" are in every sentence); analysed terms no word accounts for (a Cyrillic name matched to its
    Latin spelling) come as their own entries; NUMBER_TERM joins when the question asks for a quantity.
    One entry per word, so a word and its stem do not count twice."""
    from .lang import stemmer

    stops = frozenset().union(*STOPWORDS.values())
    surface = words(query)
    concepts: list[frozenset[str]] = []
    for word in dict.fromkeys(w for w in surface if w not in stops and len(w) > 2):
        forms = {word}
        for lang in langs:
            stem = stemmer(lang)
            if stem is not None:
                forms.add(stem.stemWord(word))
        concepts.append(frozenset(forms))
    covered = frozenset().union(*concepts) if concepts else frozenset()
    concepts += [frozenset({t}) for t in analysed if t not in covered]
    if QUANTITY_CUES & set(surface):
        concepts.append(frozenset({NUMBER_TERM}))
    return concepts


def highlight_span(row: PassageRow, sentence_vectors: np.ndarray | None, qvec: np.ndarray,
                   terms: list[frozenset[str]], langs: tuple[str, ...], lexical_weight: float = 0.5) -> tuple[int, int]:
    """The span of the sentence that best answers the question: its cosine to the question plus
    `lexical_weight` times the share of the question's content words it contains."""
    if len(row.sentences) <= 1 or sentence_vectors is None:
        return (0, len(row.text))
    from .lang import stemmer

    asks_number = frozenset({NUMBER_TERM}) in terms
    dense = np.asarray(sentence_vectors, dtype=np.float32) @ qvec
    best, best_score = 0, -np.inf
    for i, (s, e) in enumerate(row.sentences):
        tokens = words(row.text[s:e])
        toks = set(tokens)
        if asks_number and (_DIGIT.search(row.text[s:e]) or NUMBER_WORDS & toks):
            toks.add(NUMBER_TERM)
        for lang in langs:  # compare stems too
            stem = stemmer(lang)
            if stem is not None:
                toks.update(stem.stemWords(tokens))
        overlap = sum(1 for forms in terms if forms & toks) / max(len(terms), 1)
        score = float(dense[i]) + lexical_weight * overlap
        if score > best_score:
            best, best_score = i, score
    return row.sentences[best]
