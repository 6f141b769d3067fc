"""BM25 over language-analysed tokens, stored as postings arrays: a query touches only the postings of
its own terms, never a Python list of all passages.

An index is one or more *segments* (one per index update, merged from time to time). A segment keeps
raw term frequencies and passage lengths; the corpus-wide statistics (passage count, document
frequency, average length) are taken over all live passages of all segments when a snapshot opens, so
scores are those of one index built over the whole corpus, whatever the segments are.

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
from .lang import STOPWORDS, analyze, detect_language, stemmer, words
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


class BM25Segment:
    """The postings of one segment: CSR by term with rows ascending, raw term frequencies, the length
    of each row (passage) and its passage id. Immutable."""

    def __init__(self, terms: Sequence[str], indptr: np.ndarray, rows: np.ndarray, tf: np.ndarray,
                 dl: np.ndarray, ids: np.ndarray, langs: Sequence[str]) -> None:
        self.terms = list(terms)
        self.vocab = {t: i for i, t in enumerate(self.terms)}
        self.indptr = indptr
        self.rows = rows
        self.tf = tf
        self.dl = dl
        self.ids = ids  # row -> passage id, ascending
        self.langs = tuple(langs)

    @classmethod
    def build(cls, ids: Sequence[int] | np.ndarray, texts: Iterable[str], langs: Sequence[str]) -> BM25Segment:
        """Analyse every text once and lay the postings out as flat arrays.

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
        dl = np.frombuffer(lengths, dtype=np.int64).astype(np.int32) if n else np.zeros(0, dtype=np.int32)
        terms_flat = np.frombuffer(tokens, dtype=np.int32) if len(tokens) else np.zeros(0, dtype=np.int32)
        rows_flat = np.repeat(np.arange(n, dtype=np.int64), dl)
        keys, tf = np.unique(terms_flat.astype(np.int64) * max(n, 1) + rows_flat, return_counts=True)
        term_of = keys // max(n, 1)
        rows = (keys % max(n, 1)).astype(np.int32)
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(np.bincount(term_of, minlength=len(vocab)))
        return cls(list(vocab), indptr, rows, tf.astype(np.uint16), dl, np.asarray(ids, dtype=np.int64),
                   sorted(set(langs)))

    @classmethod
    def merge(cls, parts: Sequence[tuple[BM25Segment, np.ndarray]]) -> BM25Segment:
        """One segment holding the rows of `parts` kept by their boolean masks, in order: the postings
        are merged as arrays, no text is analysed again."""
        vocab: dict[str, int] = {}
        term_parts, row_parts, tf_parts, dl_parts, id_parts = [], [], [], [], []
        langs: set[str] = set()
        offset = 0
        for seg, keep in parts:
            new_row = np.cumsum(keep) - 1 + offset  # old row -> new row (valid where kept)
            local_to_global = np.array([vocab.setdefault(t, len(vocab)) for t in seg.terms], dtype=np.int64)
            term_of = np.repeat(local_to_global, np.diff(seg.indptr))
            kept = keep[seg.rows]
            term_parts.append(term_of[kept])
            row_parts.append(new_row[seg.rows[kept]])
            tf_parts.append(seg.tf[kept])
            dl_parts.append(seg.dl[keep])
            id_parts.append(seg.ids[keep])
            langs.update(seg.langs)
            offset += int(keep.sum())
        term_of = np.concatenate(term_parts) if term_parts else np.zeros(0, dtype=np.int64)
        order = np.argsort(term_of, kind="stable")  # per term: part by part, rows ascending in each
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(np.bincount(term_of, minlength=len(vocab)))
        rows = np.concatenate(row_parts)[order].astype(np.int32) if row_parts else np.zeros(0, np.int32)
        tf = np.concatenate(tf_parts)[order] if tf_parts else np.zeros(0, np.uint16)
        return cls(list(vocab), indptr, rows, tf,
                   np.concatenate(dl_parts) if dl_parts else np.zeros(0, np.int32),
                   np.concatenate(id_parts) if id_parts else np.zeros(0, np.int64), sorted(langs))

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, terms=np.array(self.terms, dtype=str), indptr=self.indptr, rows=self.rows, tf=self.tf,
                     dl=self.dl, ids=self.ids, langs=np.array(self.langs, dtype=str))

    @classmethod
    def load(cls, path: Path) -> BM25Segment:
        try:
            with np.load(path, allow_pickle=False) as data:
                return cls(data["terms"].tolist(), data["indptr"], data["rows"], data["tf"], data["dl"],
                           data["ids"], data["langs"].tolist())
        except Exception as exc:  # noqa: BLE001 - zip, key and value errors all mean a broken file
            raise IndexCorruptError(f"The BM25 index {path} cannot be read ({exc}). "
                                    "Repair it with: qa-bot index") from None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.indptr, self.rows, self.tf, self.dl, self.ids))


def rows_of(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Sorted positions in the ascending `ids` of those `wanted` ids it holds."""
    if not len(ids) or not len(wanted):
        return np.zeros(0, dtype=np.int64)
    pos = np.minimum(np.searchsorted(ids, wanted), len(ids) - 1)
    return np.unique(pos[ids[pos] == wanted])


class _SegmentView:
    """What a query needs of one segment: its postings with the corpus-wide length normalisation
    applied (the raw frequencies are not kept) and its deleted rows."""

    def __init__(self, seg: BM25Segment, deleted_rows: np.ndarray, avgdl: float) -> None:
        self.vocab = seg.vocab
        self.indptr = seg.indptr
        self.rows = seg.rows
        self.ids = seg.ids
        self.deleted = deleted_rows  # sorted rows of this segment that are no longer in the corpus
        self.alive: np.ndarray | None = None
        if len(deleted_rows):
            self.alive = np.ones(len(seg), dtype=bool)
            self.alive[deleted_rows] = False
        tf = seg.tf.astype(np.float64)
        norm = K1 * (1 - B + B * seg.dl[seg.rows] / max(avgdl, 1e-9))
        self.tfw = (tf * (K1 + 1) / (tf + norm)).astype(np.float32)  # BM25's tf part; times idf per query
        self._max_tfw: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def postings(self, t: int) -> slice:
        return slice(int(self.indptr[t]), int(self.indptr[t + 1]))

    def deleted_in(self, t: int) -> int:
        """How many deleted rows the postings of term `t` hold (rows are sorted: a binary search each)."""
        if not len(self.deleted):
            return 0
        posting = self.rows[self.postings(t)]
        if not len(posting):
            return 0
        pos = np.minimum(np.searchsorted(posting, self.deleted), len(posting) - 1)
        return int(np.count_nonzero(posting[pos] == self.deleted))

    @property
    def max_tfw(self) -> np.ndarray:
        """Per term, the largest tf part in its postings: times idf, a bound of what it adds to any score."""
        if self._max_tfw is None:
            indptr = self.indptr
            nonempty = np.diff(indptr) > 0
            out = np.zeros(len(indptr) - 1, dtype=np.float32)
            if nonempty.any():
                out[nonempty] = np.maximum.reduceat(self.tfw, indptr[:-1][nonempty])
            self._max_tfw = out
        return self._max_tfw


class BM25Index:
    """BM25 over the live passages of one or more segments, with the statistics of all of them.

    Query analysis, the ideal score and the top-k paths (plain, dense array, MaxScore pruning) are
    computed per segment with corpus-wide idf and merged; thread-safe for concurrent questions."""

    def __init__(self, segments: Sequence[BM25Segment], deleted_ids: np.ndarray | None = None) -> None:
        deleted_ids = np.zeros(0, np.int64) if deleted_ids is None else np.asarray(deleted_ids, dtype=np.int64)
        deleted_rows = [rows_of(seg.ids, deleted_ids) for seg in segments]
        self.n = sum(len(s) for s in segments) - sum(len(r) for r in deleted_rows)
        total_dl = sum(int(s.dl.sum()) - int(s.dl[r].sum()) for s, r in zip(segments, deleted_rows))
        avgdl = total_dl / self.n if self.n else 1.0
        self._views = [_SegmentView(s, r, avgdl) for s, r in zip(segments, deleted_rows)]
        self.langs = tuple(sorted({lang for s in segments for lang in s.langs}))
        self.max_idf = math.log(1 + (max(self.n, 1) + 0.5) / 0.5)  # a term no passage contains
        self._idf_cache: dict[str, float] = {}
        self._terms_cache: dict[str, tuple[str, ...]] = {}
        self._cache_lock = threading.Lock()
        self._names: NameMatcher | None = None

    # ------------------------------------------------------------------ one-segment convenience
    @classmethod
    def build(cls, ids: Sequence[int] | np.ndarray, texts: Iterable[str], langs: Sequence[str]) -> BM25Index:
        return cls([BM25Segment.build(ids, texts, langs)])

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        """Memory of the postings arrays (all segments)."""
        return sum(v.indptr.nbytes + v.rows.nbytes + v.tfw.nbytes + v.ids.nbytes for v in self._views)

    @property
    def vocabulary_size(self) -> int:
        return len(self._vocabulary())

    def _vocabulary(self) -> set[str]:
        return set().union(*(v.vocab for v in self._views))

    # ------------------------------------------------------------------ statistics
    def idf(self, term: str) -> float | None:
        """Corpus-wide idf of an analysed term; None when no live passage contains it."""
        cached = self._idf_cache.get(term)
        if cached is None:
            df = 0
            for view in self._views:
                t = view.vocab.get(term)
                if t is not None:
                    df += int(view.indptr[t + 1] - view.indptr[t]) - view.deleted_in(t)
            cached = float(np.float32(math.log(1 + (self.n - df + 0.5) / (df + 0.5)))) if df else -1.0
            self._idf_cache[term] = cached  # a plain dict store: safe across threads
        return None if cached < 0 else cached

    def postings(self, question: str) -> int:
        """How many postings the question's terms have (what a query without pruning would read)."""
        total = 0
        for term in self.query_terms(question):
            for view in self._views:
                t = view.vocab.get(term)
                if t is not None:
                    total += int(view.indptr[t + 1] - view.indptr[t])
        return total

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
            stem = stemmer(self.langs[0]) if len(self.langs) == 1 else None
            self._names = NameMatcher(sorted(self._vocabulary()), stem.stemWord if stem is not None else None)
        return self._names

    def _known_terms(self, question: str) -> tuple[list[tuple[str, float]], float]:
        """The question's terms known to the corpus with their idf, and its ideal score."""
        terms = self.query_terms(question)
        known = [(t, idf) for t in terms if (idf := self.idf(t)) is not None]
        ideal = float(sum(idf for _, idf in known)) + self.max_idf * (len(terms) - len(known))
        return known, ideal

    def top(self, question: str, k: int) -> tuple[np.ndarray, np.ndarray, float]:
        """(passage ids, scores normalised by the ideal score) of the k best, best first."""
        known, ideal = self._known_terms(question)
        ids_parts, score_parts = [], []
        for view in self._views:
            local = [(t, np.float32(idf)) for term, idf in known if (t := view.vocab.get(term)) is not None]
            if local:
                rows, scores = _segment_top(view, local, k)
                ids_parts.append(view.ids[rows])
                score_parts.append(scores)
        if not ids_parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), ideal
        ids, scores = np.concatenate(ids_parts), np.concatenate(score_parts)
        if len(ids) > k:
            part = np.argpartition(-scores, k - 1)[:k]
            ids, scores = ids[part], scores[part]
        order = np.lexsort((ids, -scores))  # best first; ties in passage order, as in one segment
        return ids[order], scores[order] / max(ideal, 1e-9), ideal


def _segment_top(view: _SegmentView, known: list[tuple[int, np.float32]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, raw scores) of the k best live rows of one segment for the terms `known` (local id, idf)."""
    postings = sum(int(view.indptr[t + 1] - view.indptr[t]) for t, _ in known)
    if len(known) > 1 and postings > PRUNE_MIN_POSTINGS:
        rows, scores = _top_pruned(view, known, k)
    elif len(known) > 1 and len(view) <= DENSE_MAX_ROWS:
        rows, scores = _scores_dense(view, known)
    else:
        rows, scores = _scores(view, known)
    if view.alive is not None and len(rows):
        live = view.alive[rows]
        rows, scores = rows[live], scores[live]
    if len(rows) > k:
        part = np.argpartition(-scores, k - 1)[:k]
        rows, scores = rows[part], scores[part]
    return rows.astype(np.int64), scores


def _scores(view: _SegmentView, known: list[tuple[int, np.float32]]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, raw scores) of every row sharing a term with the question."""
    slices = [view.postings(t) for t, _ in known]
    rows = np.concatenate([view.rows[s] for s in slices])
    weights = np.concatenate([view.tfw[s] * idf for s, (_, idf) in zip(slices, known)])
    if len(known) == 1:
        return rows.astype(np.int64), weights
    uniq, inverse = np.unique(rows, return_inverse=True)
    return uniq.astype(np.int64), np.bincount(inverse, weights=weights).astype(np.float32)


def _accumulate(view: _SegmentView, known: list[tuple[int, np.float32]]) -> np.ndarray:
    acc = np.zeros(len(view), dtype=np.float64)
    for t, idf in known:  # a term's postings hold each row once, so fancy-index += is exact
        s = view.postings(t)
        acc[view.rows[s]] += view.tfw[s] * idf
    if view.alive is not None:
        acc[~view.alive] = 0.0
    return acc


def _scores_dense(view: _SegmentView, known: list[tuple[int, np.float32]]) -> tuple[np.ndarray, np.ndarray]:
    """Like `_scores`, summed into one array over all rows: no sort, for small segments."""
    acc = _accumulate(view, known)
    rows = np.flatnonzero(acc)
    return rows, acc[rows].astype(np.float32)


def _top_dense(view: _SegmentView, known: list[tuple[int, np.float32]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best rows from one dense score array: bounded by a pass over all rows, no sort."""
    acc = _accumulate(view, known)
    rows = np.argpartition(-acc, k - 1)[:k] if len(acc) > k else np.arange(len(acc))
    rows = np.sort(rows[acc[rows] > 0])
    return rows, acc[rows].astype(np.float32)


def _top_pruned(view: _SegmentView, known: list[tuple[int, np.float32]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k without touching the long postings of common words (MaxScore pruning).

    Candidates come from the postings of the most selective terms first; once the k-th best exact
    score of the candidates is at least the sum of the bounds of the terms not yet opened, no other
    row can enter the top k, so common words are only looked up for the candidates."""
    bounds = np.array([view.max_tfw[t] * idf for t, idf in known], dtype=np.float32)
    order = np.argsort(-bounds, kind="stable")
    tails = np.append(np.cumsum(bounds[order][::-1])[::-1], 0.0)  # tails[j]: bound of terms j..end
    parts: list[np.ndarray] = []
    cand = np.zeros(0, dtype=np.int32)
    scores = np.zeros(0, dtype=np.float32)
    for j, idx in enumerate(order):
        parts.append(view.rows[view.postings(known[idx][0])])
        opened = sum(len(p) for p in parts)
        if opened > len(view) * DENSE_SHARE:  # only common words: sorting them costs more
            return _top_dense(view, known, k)
        if j + 1 < len(order) and opened < k:
            continue
        cand = np.unique(np.concatenate(parts))
        if view.alive is not None:
            cand = cand[view.alive[cand]]
        parts = [cand]
        scores = _score_rows(view, cand, known)
        if j + 1 == len(order) or (len(cand) >= k and tails[j + 1] <= np.partition(scores, len(cand) - k)[
                len(cand) - k]):
            break
    return cand.astype(np.int64), scores


def _score_rows(view: _SegmentView, rows: np.ndarray, known: list[tuple[int, np.float32]]) -> np.ndarray:
    """Exact BM25 scores of `rows` (ascending), by binary search in each term's postings."""
    acc = np.zeros(len(rows), dtype=np.float64)
    for t, idf in known:
        s = view.postings(t)
        posting = view.rows[s]
        if not len(posting):
            continue
        pos = np.minimum(np.searchsorted(posting, rows), len(posting) - 1)
        hit = posting[pos] == rows
        acc[hit] += view.tfw[s.start + pos[hit]] * idf
    return acc.astype(np.float32)
