"""BM25 over language-analysed tokens, stored as postings arrays: a query touches only the postings of
its own terms, never a Python list of all passages.

Scores are also reported normalised by the query's *ideal* score (the sum of the idf of every query
term, known to the corpus or not). That fraction says how much of the question the corpus matches
lexically, which is what fusion and abstention need: an English question against German articles
matches only its names and numbers, and gets a small fraction.
"""

from __future__ import annotations

import math
import threading
from array import array
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError
from .lang import STOPWORDS, analyze, detect_language, words
from .translit import NameMatcher

K1 = 1.2
B = 0.75
PRUNE_MIN_POSTINGS = 20_000  # below this, scoring every posting is cheaper than pruning
DENSE_MAX_ROWS = 50_000  # up to this many passages, one dense score array beats sorting the postings
TERMS_CACHE = 256  # questions whose analysed terms are remembered
DENSE_SHARE = 0.125  # candidates above this share of all passages: a dense score array beats sorting them


def question_terms(question: str, langs: Sequence[str], match_name: Callable[[str], str | None]) -> list[str]:
    """The question analysed in every corpus language, de-duplicated, order kept. The question's own
    stopwords go first: "what does" in an English question is no evidence against German passages, and
    would otherwise dilute the share that its names match. Both engines analyse questions here.

    `match_name` maps a Cyrillic word to the corpus word it transliterates to (or None); it is asked
    only when the corpus has no Russian."""
    own = STOPWORDS.get(detect_language(question, default=langs[0] if langs else "de"), ())
    content = [w for w in words(question) if w not in own]
    if "ru" not in langs:  # a Cyrillic name in the question may be a Latin one in the corpus
        content = [match_name(w) or w for w in content]
    seen: dict[str, None] = {}
    for lang in langs or ("de",):
        for tok in analyze(" ".join(content), lang):
            seen.setdefault(tok, None)
    return list(seen)


class BM25Index:
    def __init__(self, vocab: dict[str, int], indptr: np.ndarray, rows: np.ndarray, weights: np.ndarray,
                 idf: np.ndarray, ids: np.ndarray, langs: Sequence[str]) -> None:
        self.vocab = vocab
        self.indptr = indptr
        self.rows = rows
        self.weights = weights
        self.idf = idf
        self.ids = ids  # row -> passage id
        self.langs = tuple(langs)  # the corpus languages: queries are analysed in each
        n = max(len(ids), 1)
        self.max_idf = math.log(1 + (n - 0 + 0.5) / 0.5)  # a term no passage contains
        self._max_weight_cache: np.ndarray | None = None
        self._terms_cache: dict[str, tuple[str, ...]] = {}
        self._cache_lock = threading.Lock()
        self._names: NameMatcher | None = None

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, ids: Sequence[int], texts: Iterable[str], langs: Sequence[str]) -> BM25Index:
        """Analyse every text once and lay the postings out as flat arrays (CSR by term, rows ascending).

        Token ids go into one flat int array and numpy does the counting: a million passages need a few
        hundred MB, not the gigabytes that per-passage Counters and posting lists of tuples would take."""
        langs = list(langs)
        vocab: dict[str, int] = {}
        tokens = array("i")
        lengths = array("q")
        for text, lang in zip(texts, langs, strict=False):
            toks = analyze(text, lang)
            tokens.extend([vocab.setdefault(tok, len(vocab)) for tok in toks])
            lengths.append(len(toks))
        n = len(lengths)
        dl = np.frombuffer(lengths, dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
        terms_flat = np.frombuffer(tokens, dtype=np.int32) if len(tokens) else np.zeros(0, dtype=np.int32)
        rows_flat = np.repeat(np.arange(n, dtype=np.int64), dl)
        keys, tf = np.unique(terms_flat.astype(np.int64) * max(n, 1) + rows_flat, return_counts=True)
        term_of = keys // max(n, 1)
        rows = (keys % max(n, 1)).astype(np.int32)
        df = np.bincount(term_of, minlength=len(vocab)).astype(np.float64)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(df.astype(np.int64))
        avgdl = float(dl.mean()) if n else 1.0
        norm = K1 * (1 - B + B * dl[rows] / max(avgdl, 1e-9))
        tfw = (tf * (K1 + 1) / (tf + norm)).astype(np.float32)
        weights = (tfw * idf[term_of]).astype(np.float32)
        return cls(vocab, indptr, rows, weights, idf, np.asarray(ids, dtype=np.int64), sorted(set(langs)))

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        terms = np.array(sorted(self.vocab, key=self.vocab.__getitem__), dtype=object)
        with open(path, "wb") as fh:
            np.savez(fh, terms=np.array(terms, dtype=str), indptr=self.indptr, rows=self.rows,
                     weights=self.weights, idf=self.idf, ids=self.ids, langs=np.array(self.langs, dtype=str))

    @classmethod
    def load(cls, path: Path) -> BM25Index:
        try:
            with np.load(path, allow_pickle=False) as data:
                terms = data["terms"].tolist()
                return cls({t: i for i, t in enumerate(terms)}, data["indptr"], data["rows"], data["weights"],
                           data["idf"], data["ids"], data["langs"].tolist())
        except Exception as exc:  # noqa: BLE001 - zip, key and value errors all mean a broken file
            raise IndexCorruptError(f"The BM25 index {path} cannot be read ({exc}). "
                                    "Rebuild it with: qa-bot index --rebuild") from None

    # ------------------------------------------------------------------ querying
    def query_terms(self, question: str) -> list[str]:
        """`_query_terms`, remembered for the last few questions: a search needs them twice (ranking and
        highlighting), and the analysis costs about as much as the BM25 scoring itself."""
        cached = self._terms_cache.get(question)
        if cached is None:
            cached = tuple(self._query_terms(question))
            with self._cache_lock:  # searches run in several threads (the bot's pool)
                if len(self._terms_cache) >= TERMS_CACHE:
                    self._terms_cache.pop(next(iter(self._terms_cache)), None)  # the oldest: dicts keep order
                self._terms_cache[question] = cached
        return list(cached)

    def _query_terms(self, question: str) -> list[str]:
        return question_terms(question, self.langs, lambda word: self._name_matcher().match(word))

    def _name_matcher(self) -> NameMatcher:
        if self._names is None:
            self._names = NameMatcher(list(self.vocab))
        return self._names

    def _known_terms(self, question: str) -> tuple[list[int], float]:
        """The question's term ids known to the corpus, and its ideal score."""
        terms = self.query_terms(question)
        known = [self.vocab[t] for t in terms if t in self.vocab]
        ideal = float(sum(self.idf[t] for t in known)) + self.max_idf * (len(terms) - len(known))
        return known, ideal

    def scores(self, question: str) -> tuple[np.ndarray, np.ndarray, float]:
        """(rows, raw scores, ideal score) for passages sharing a term with the question."""
        known, ideal = self._known_terms(question)
        if not known:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), ideal
        slices = [slice(self.indptr[t], self.indptr[t + 1]) for t in known]
        rows = np.concatenate([self.rows[s] for s in slices])
        weights = np.concatenate([self.weights[s] for s in slices])
        if len(known) == 1:
            return rows.astype(np.int64), weights, ideal
        uniq, inverse = np.unique(rows, return_inverse=True)
        return uniq.astype(np.int64), np.bincount(inverse, weights=weights).astype(np.float32), ideal

    def top(self, question: str, k: int) -> tuple[np.ndarray, np.ndarray, float]:
        """(passage ids, scores normalised by the ideal score) of the k best, best first."""
        known, ideal = self._known_terms(question)
        postings = sum(int(self.indptr[t + 1] - self.indptr[t]) for t in known)
        if len(known) > 1 and postings > PRUNE_MIN_POSTINGS:
            rows, scores = self._top_pruned(known, k)
        elif len(known) > 1 and len(self.ids) <= DENSE_MAX_ROWS:
            rows, scores = self._scores_dense(known)
        else:
            rows, scores, ideal = self.scores(question)
        if len(rows) == 0:
            return self.ids[:0], scores, ideal
        if len(rows) > k:
            part = np.argpartition(-scores, k - 1)[:k]
            rows, scores = rows[part], scores[part]
        order = np.argsort(-scores, kind="stable")
        return self.ids[rows[order]], scores[order] / max(ideal, 1e-9), ideal

    # ------------------------------------------------------------------ large corpora
    @property
    def _max_weights(self) -> np.ndarray:
        """Per term, the largest weight in its postings: an upper bound of what it adds to any score."""
        if self._max_weight_cache is None:
            nonempty = np.diff(self.indptr) > 0
            out = np.zeros(len(self.idf), dtype=np.float32)
            if nonempty.any():
                out[nonempty] = np.maximum.reduceat(self.weights, self.indptr[:-1][nonempty])
            self._max_weight_cache = out
        return self._max_weight_cache

    def _top_pruned(self, known: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k without touching the long postings of common words (MaxScore pruning).

        Candidates come from the postings of the most selective terms first; once the k-th best exact
        score of the candidates is at least the sum of the bounds of the terms not yet opened, no other
        passage can enter the top k, so common words are only looked up for the candidates."""
        bounds = self._max_weights[known]
        order = np.argsort(-bounds, kind="stable")
        tails = np.append(np.cumsum(bounds[order][::-1])[::-1], 0.0)  # tails[j]: bound of terms j..end
        parts: list[np.ndarray] = []
        cand = np.zeros(0, dtype=np.int32)
        scores = np.zeros(0, dtype=np.float32)
        for j, idx in enumerate(order):
            t = known[idx]
            parts.append(self.rows[self.indptr[t]:self.indptr[t + 1]])
            opened = sum(len(p) for p in parts)
            if opened > len(self.ids) * DENSE_SHARE:  # only common words: sorting them costs more
                return self._top_dense(known, k)
            if j + 1 < len(order) and opened < k:
                continue
            cand = np.unique(np.concatenate(parts))
            parts = [cand]
            scores = self._score_rows(cand, known)
            if j + 1 == len(order) or (len(cand) >= k and tails[j + 1] <= np.partition(scores, len(cand) - k)[
                    len(cand) - k]):
                break
        return cand.astype(np.int64), scores

    def _scores_dense(self, known: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Like `scores`, summed into one array over all rows: no sort, for small corpora."""
        acc = np.zeros(len(self.ids), dtype=np.float64)
        for t in known:  # a term's postings hold each row once, so fancy-index += is exact
            acc[self.rows[self.indptr[t]:self.indptr[t + 1]]] += self.weights[self.indptr[t]:self.indptr[t + 1]]
        rows = np.flatnonzero(acc)
        return rows, acc[rows].astype(np.float32)

    def _top_dense(self, known: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best rows from one dense score array: bounded by a pass over all rows, no sort."""
        acc = np.zeros(len(self.ids), dtype=np.float64)
        for t in known:
            acc[self.rows[self.indptr[t]:self.indptr[t + 1]]] += self.weights[self.indptr[t]:self.indptr[t + 1]]
        rows = np.argpartition(-acc, k - 1)[:k] if len(acc) > k else np.arange(len(acc))
        rows = np.sort(rows[acc[rows] > 0])
        return rows, acc[rows].astype(np.float32)

    def _score_rows(self, rows: np.ndarray, known: list[int]) -> np.ndarray:
        """Exact BM25 scores of `rows` (ascending), by binary search in each term's postings."""
        acc = np.zeros(len(rows), dtype=np.float64)
        for t in known:
            start, stop = int(self.indptr[t]), int(self.indptr[t + 1])
            posting = self.rows[start:stop]
            pos = np.minimum(np.searchsorted(posting, rows), len(posting) - 1)
            hit = posting[pos] == rows
            acc[hit] += self.weights[start + pos[hit]]
        return acc.astype(np.float32)

    def __len__(self) -> int:
        return len(self.ids)
