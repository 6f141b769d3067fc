"""Sentence and paragraph vectors kept beside the passage vectors.

Dense matching of a short question against a long passage is weak ("long passages hurt dense
matching"): the question usually matches one sentence, and sometimes only the paragraph as a whole.
The dense score of a passage therefore blends three granularities: the passage vector, its best
sentence, and its paragraph (the normalised mean of the paragraph's passage vectors). On XQuAD this
lifts dense Recall@1 for every question language (README, "Retrieval quality"). The best sentence is
also the highlight, so highlighting costs no model call at query time.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import IndexCorruptError

# Weights of passage, best sentence and paragraph cosine in the dense score (tuned on XQuAD, USE); a
# model's calibration may bring its own (retrieve.CALIBRATIONS).
W_PASSAGE, W_SENTENCE, W_PARAGRAPH = 0.25, 0.5, 0.25
DEFAULT_WEIGHTS = (W_PASSAGE, W_SENTENCE, W_PARAGRAPH)
# Stored as float16; loaded as float32 (no conversion per question) while that stays under this size.
FLOAT32_BELOW_BYTES = 128 * 2**20


class Granules:
    """Per-passage sentence vectors and per-paragraph vectors of one index segment, with the blended
    dense score computed from them (see the module docstring). Immutable."""

    def __init__(self, ids: np.ndarray, sent_ptr: np.ndarray, sent_vecs: np.ndarray, para_of: np.ndarray,
                 para_vecs: np.ndarray) -> None:
        self.ids = ids  # sorted passage ids
        self.sent_ptr = sent_ptr  # sentence rows of passage i: sent_ptr[i]:sent_ptr[i+1] (empty: 1 sentence)
        self.sent_vecs = sent_vecs
        self.para_of = para_of  # passage i -> row of para_vecs
        self.para_vecs = para_vecs

    @classmethod
    def build(cls, ids: np.ndarray, passage_vecs: np.ndarray, sentence_vecs: Sequence[np.ndarray | None],
              para_keys: Sequence[tuple[str, int]]) -> Granules:
        """`ids` sorted, with the passage vectors, per-passage sentence vectors and paragraph keys
        in the same order."""
        dim = passage_vecs.shape[1]  # stored as float16: half the memory, scores differ by < 1e-3
        lengths = [0 if sv is None else len(sv) for sv in sentence_vecs]
        sent_ptr = np.zeros(len(ids) + 1, dtype=np.int64)
        sent_ptr[1:] = np.cumsum(lengths)
        present = [sv for sv in sentence_vecs if sv is not None and len(sv)]
        sent = np.concatenate(present).astype(np.float16) if present else np.zeros((0, dim), np.float16)
        keys: dict[tuple[str, int], int] = {}
        para_of = np.array([keys.setdefault(k, len(keys)) for k in para_keys], dtype=np.int64)
        para = np.zeros((len(keys), dim), dtype=np.float32)
        np.add.at(para, para_of, passage_vecs)
        para /= np.maximum(np.linalg.norm(para, axis=1, keepdims=True), 1e-12)
        return cls(np.asarray(ids, dtype=np.int64), sent_ptr, sent, para_of, para.astype(np.float16))

    @classmethod
    def merge(cls, parts: Sequence[tuple[Granules, np.ndarray]]) -> Granules:
        """One Granules holding the passages of `parts` kept by their boolean masks, in order. A
        paragraph's passages are kept or dropped together (they belong to one article), so the
        paragraph vectors are carried over as they are."""
        ids, lengths, sents, para_of, paras = [], [], [], [], []
        offset = 0
        for g, keep in parts:
            ids.append(g.ids[keep])
            counts = np.diff(g.sent_ptr)[keep]
            starts = g.sent_ptr[:-1][keep]
            firsts = np.cumsum(counts) - counts
            sents.append(g.sent_vecs[np.repeat(starts - firsts, counts) + np.arange(int(counts.sum()))])
            lengths.append(counts)
            used, inverse = np.unique(g.para_of[keep], return_inverse=True)
            para_of.append(inverse.astype(np.int64) + offset)
            paras.append(g.para_vecs[used])
            offset += len(used)
        dim = parts[0][0].para_vecs.shape[1] if parts else 0
        sent_ptr = np.zeros(sum(len(x) for x in ids) + 1, dtype=np.int64)
        sent_ptr[1:] = np.cumsum(np.concatenate(lengths)) if lengths else []
        return cls(np.concatenate(ids) if ids else np.zeros(0, np.int64), sent_ptr,
                   np.concatenate(sents).astype(np.float16) if sents else np.zeros((0, dim), np.float16),
                   np.concatenate(para_of) if para_of else np.zeros(0, np.int64),
                   np.concatenate(paras).astype(np.float16) if paras else np.zeros((0, dim), np.float16))

    def save(self, path: Path) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, ids=self.ids, sent_ptr=self.sent_ptr, sent_vecs=self.sent_vecs, para_of=self.para_of,
                     para_vecs=self.para_vecs)

    @classmethod
    def load(cls, path: Path) -> Granules:
        try:
            with np.load(path, allow_pickle=False) as d:
                sent, para = d["sent_vecs"], d["para_vecs"]
                if sent.nbytes + para.nbytes < FLOAT32_BELOW_BYTES:  # small: trade memory for speed
                    sent, para = sent.astype(np.float32), para.astype(np.float32)
                return cls(d["ids"], d["sent_ptr"], sent, d["para_of"], para)
        except Exception as exc:  # noqa: BLE001 - zip, key and value errors all mean a broken file
            raise IndexCorruptError(f"The sentence vectors {path} cannot be read ({exc}). "
                                    "Repair it with: qa-bot index") from None

    def __len__(self) -> int:
        return len(self.ids)

    def _positions(self, pids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.ids, pids)

    def sentence_vectors(self, pid: int) -> np.ndarray | None:
        i = int(self._positions(np.array([pid]))[0])
        lo, hi = self.sent_ptr[i], self.sent_ptr[i + 1]
        return self.sent_vecs[lo:hi] if hi > lo else None

    def dense_scores(self, pids: np.ndarray, passage_vecs: np.ndarray, query: np.ndarray,
                     weights: tuple[float, float, float] | None = None) -> np.ndarray:
        """The blended dense score of each passage in `pids` (whose vectors are `passage_vecs`);
        `weights`: of passage, best sentence and paragraph cosine (default DEFAULT_WEIGHTS)."""
        w_passage, w_sentence, w_paragraph = weights or DEFAULT_WEIGHTS
        pos = self._positions(pids)
        passage = passage_vecs @ query
        best_sentence = passage.copy()
        starts, ends = self.sent_ptr[pos], self.sent_ptr[pos + 1]
        multi = np.nonzero(ends > starts)[0]
        if len(multi):
            lengths = ends[multi] - starts[multi]
            firsts = np.r_[0, np.cumsum(lengths)[:-1]]  # where each passage's sentences start in `rows`
            rows = np.repeat(starts[multi] - firsts, lengths) + np.arange(int(lengths.sum()))
            sims = np.asarray(self.sent_vecs[rows], dtype=np.float32) @ query
            best_sentence[multi] = np.maximum.reduceat(sims, firsts)
        paragraph = np.asarray(self.para_vecs[self.para_of[pos]], dtype=np.float32) @ query
        return w_passage * passage + w_sentence * best_sentence + w_paragraph * paragraph
