"""Cross-script name matching: "Салливан" in a Russian question finds "Sullivan" in a German article.

Names carry much of a news question, and an embedding model matches them poorly across scripts. A
Cyrillic word of the question is transliterated to Latin letters and compared by character trigrams
with the corpus vocabulary; a close match joins the BM25 query as if the question had spelled it.
"""

from __future__ import annotations

import re
from collections import defaultdict

_CYR = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r", "s",
                 "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"]))
_CYRILLIC_WORD = re.compile(r"^[\u0400-\u04ff]+$")
MIN_LENGTH = 5
MIN_SIMILARITY = 0.4


def transliterate(word: str) -> str:
    return "".join(_CYR.get(ch, ch) for ch in word.lower())


def skeleton(word: str) -> str:
    """Consonants without repeats, w read as v: "Sullivan" and "Салливан" (sallivan) both give "slvn",
    "Ryder" and "Райдер" (raider) "rdr"; transliteration disagrees mostly about vowels."""
    out: list[str] = []
    for ch in word.lower().replace("w", "v"):
        if ch in "aeiouy":
            continue
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


def _trigrams(word: str) -> set[str]:
    padded = f" {word} "
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


class NameMatcher:
    """Trigram index over the corpus vocabulary's Latin words, built on first use."""

    def __init__(self, vocabulary: list[str]) -> None:
        self._index: dict[str, list[int]] = defaultdict(list)
        self._words = [w for w in vocabulary if len(w) >= MIN_LENGTH - 1 and w.isascii() and w.isalpha()]
        self._grams = [_trigrams(w) for w in self._words]
        for i, grams in enumerate(self._grams):
            for gram in grams:
                self._index[gram].append(i)
        self._skeletons: dict[tuple[str, str], str] = {}
        for w in self._words:
            key = (w[0], skeleton(w))
            if len(key[1]) >= 3:
                self._skeletons.setdefault(key, w)

    def match(self, word: str) -> str | None:
        """The corpus word closest to the transliterated `word`, if it is close enough."""
        if len(word) < MIN_LENGTH or not _CYRILLIC_WORD.match(word):
            return None
        latin = transliterate(word)
        if len(latin) < 3:  # "ъъъъъ" transliterates to nothing
            return None
        grams = _trigrams(latin)
        counts: dict[int, int] = defaultdict(int)
        for gram in grams:
            for i in self._index.get(gram, ()):
                counts[i] += 1
        best, best_sim = None, MIN_SIMILARITY
        for i, shared in counts.items():
            sim = shared / len(grams | self._grams[i])
            if sim > best_sim:
                best, best_sim = self._words[i], sim
        return best or self._skeletons.get((latin[0], skeleton(latin)))
