"""BM25 over language-analysed tokens, stored as postings arrays: a query touches only the postings of
its own terms, never a Python list of all passages.

Scores are also reported normalised by the query's *ideal* score (the sum of the idf of every query
term, known to the corpus or not). That fraction says how much of the question the corpus matches
lexically, which is what fusion and abstention need: an English question against German articles
matches only its names and numbers, and gets a small fraction.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from .errors import IndexCorruptError
from .lang import analyze

K1 = 1.2
B = 0.75


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

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, ids: Sequence[int], texts: Iterable[str], langs: Sequence[str]) -> "BM25Index":
        langs = list(langs)
        vocab: dict[str, int] = {}
        doc_terms: list[Counter] = []
        lengths = []
        for text, lang in zip(texts, langs):
            counts = Counter(vocab.setdefault(tok, len(vocab)) for tok in analyze(text, lang))
            doc_terms.append(counts)
            lengths.append(sum(counts.values()))
        n = len(doc_terms)
        avgdl = (sum(lengths) / n) if n else 1.0
        postings: list[list[tuple[int, float]]] = [[] for _ in vocab]
        for row, (counts, dl) in enumerate(zip(doc_terms, lengths)):
            norm = K1 * (1 - B + B * dl / max(avgdl, 1e-9))
            for term, tf in counts.items():
                postings[term].append((row, tf * (K1 + 1) / (tf + norm)))
        df = np.array([len(p) for p in postings], dtype=np.float64)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(p) for p in postings])
        rows = np.fromiter((r for p in postings for r, _ in p), dtype=np.int32, count=int(indptr[-1]))
        tfw = np.fromiter((w for p in postings for _, w in p), dtype=np.float32, count=int(indptr[-1]))
        term_of = np.repeat(np.arange(len(vocab)), np.diff(indptr))
        weights = (tfw * idf[term_of]).astype(np.float32)
        return cls(vocab, indptr, rows, weights, idf, np.asarray(ids, dtype=np.int64), sorted(set(langs)))

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path) -> None:
        terms = np.array(sorted(self.vocab, key=self.vocab.__getitem__), dtype=object)
        with open(path, "wb") as fh:
            np.savez(fh, terms=np.array(terms, dtype=str), indptr=self.indptr, rows=self.rows,
                     weights=self.weights, idf=self.idf, ids=self.ids, langs=np.array(self.langs, dtype=str))

    @classmethod
    def load(cls, path: Path) -> "BM25Index":
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
        """The question analysed in every corpus language, de-duplicated, order kept."""
        seen: dict[str, None] = {}
        for lang in self.langs or ("de",):
            for tok in analyze(question, lang):
                seen.setdefault(tok, None)
        return list(seen)

    def scores(self, question: str) -> tuple[np.ndarray, np.ndarray, float]:
        """(rows, raw scores, ideal score) for passages sharing a term with the question."""
        terms = self.query_terms(question)
        known = [self.vocab[t] for t in terms if t in self.vocab]
        ideal = float(sum(self.idf[t] for t in known)) + self.max_idf * (len(terms) - len(known))
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
        rows, scores, ideal = self.scores(question)
        if len(rows) == 0:
            return rows, scores, ideal
        if len(rows) > k:
            part = np.argpartition(-scores, k - 1)[:k]
            rows, scores = rows[part], scores[part]
        order = np.argsort(-scores, kind="stable")
        return self.ids[rows[order]], scores[order] / max(ideal, 1e-9), ideal

    def __len__(self) -> int:
        return len(self.ids)
