"""Synthetic corpora for the scale bench: clustered, anisotropic unit vectors and Zipf-distributed text.

Real sentence embeddings are not uniform noise: they crowd around topics and spread unevenly over
directions. Uniform random high-dimensional vectors make every neighbour nearly equidistant, which is
unrepresentatively hard for approximate indexes; perfectly separated clusters are unrepresentatively
easy. The generator sits between: 4096 topic centroids with a decaying per-dimension spectrum, and
per-passage noise as large as the centroid (nearest-neighbour cosine about 0.6, random pairs about 0).
"""

from __future__ import annotations

import numpy as np

TOPICS = 4096
NOISE = 1.0
CHUNK = 100_000

# German stopwords a question or a passage really contains; the analyser drops them.
STOPWORDS = ("der die das und ist in von zu mit den im für auf dem nicht ein eine als auch es an "
             "wie viele wer was wann wo welche").split()
SYLLABLES = ("ka ber lin stro ma tes un gen ra pol mi ko sch af ter den bur tal hei neu wald berg "
             "rich ste fan lo ri sa ve do mu ne pa ti go ru fe li ho ze").split()


def _centroids(dim: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(12345)  # the same topics for every corpus size and for the queries
    spectrum = np.arange(1, dim + 1, dtype=np.float32) ** -0.5
    cent = rng.standard_normal((TOPICS, dim), dtype=np.float32) * spectrum
    return cent / np.linalg.norm(cent, axis=1, keepdims=True), spectrum


def synthetic_vectors(n: int, dim: int = 384, seed: int = 0) -> np.ndarray:
    """`n` L2-normalised float32 vectors: a topic centroid plus anisotropic noise of the same norm."""
    cent, spectrum = _centroids(dim)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        noise = rng.standard_normal((stop - start, dim), dtype=np.float32) * spectrum
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        x = cent[rng.integers(0, TOPICS, stop - start)] + NOISE * noise
        out[start:stop] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def exact_top(queries: np.ndarray, vectors: np.ndarray, k: int = 10) -> np.ndarray:
    """Exact inner-product top-k row numbers per query (the recall reference), in chunks of rows."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(vectors), CHUNK * 2):
        sims = queries @ vectors[start:start + CHUNK * 2].T
        kk = min(k, sims.shape[1])
        part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        best_s = np.concatenate([best_s, np.take_along_axis(sims, part, 1)], axis=1)
        best_i = np.concatenate([best_i, part + start], axis=1)
        keep = np.argsort(-best_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    return best_i


def _vocabulary(size: int, rng: np.random.Generator) -> np.ndarray:
    words: set[str] = set()
    syl = np.array(SYLLABLES)
    while len(words) < size:
        parts = rng.integers(0, len(syl), (size, 4))
        lengths = rng.integers(2, 5, size)
        words.update("".join(syl[p[:n]]) for p, n in zip(parts, lengths, strict=True))
    ordered = np.array(sorted(words - set(STOPWORDS)), dtype=object)  # sorted: the same on every run
    return ordered[rng.permutation(len(ordered))[:size]]  # shuffled: Zipf ranks ignore the alphabet


def synthetic_texts(n: int, queries: int = 200, vocab_size: int | None = None, seed: int = 0
                    ) -> tuple[list[str], list[str]]:
    """`n` passages of 50-90 words (Zipf-distributed vocabulary plus stopwords, like a news paragraph of
    about 500 characters) and `queries` questions made of words from random passages. The vocabulary
    grows with the corpus (n/5 words, 5k to 200k), as a news archive's does."""
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(vocab_size or min(200_000, max(5_000, n // 5)), rng)
    probs = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    cdf = np.cumsum(probs / probs.sum())
    stops = np.array(STOPWORDS, dtype=object)
    lengths = rng.integers(50, 91, n)
    texts: list[str] = []
    picked: list[np.ndarray] = []
    query_docs = set(rng.choice(n, min(queries, n), replace=False).tolist())
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        total = int(lengths[start:stop].sum())
        ids = np.minimum(np.searchsorted(cdf, rng.random(total)), len(vocab) - 1)
        tokens = vocab[ids]
        is_stop = rng.random(total) < 0.3
        tokens[is_stop] = stops[rng.integers(0, len(stops), int(is_stop.sum()))]
        offsets = np.concatenate([[0], np.cumsum(lengths[start:stop])])
        for row in range(stop - start):
            words = tokens[offsets[row]:offsets[row + 1]]
            texts.append(" ".join(words))
            if start + row in query_docs:
                picked.append(ids[offsets[row]:offsets[row + 1]][~is_stop[offsets[row]:offsets[row + 1]]])
    questions = []
    for content in picked:
        chosen = vocab[rng.choice(content, min(4, len(content)), replace=False)]
        questions.append(" ".join(["wer", "ist", *chosen.tolist()]) + "?")
    return texts, questions
