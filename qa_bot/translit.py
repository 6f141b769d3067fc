"""Cross-script name matching: "Салливан" in a Russian question finds "Sullivan" in a German article,
"Харків" finds "Charkiw" and "Київ" finds "Kiew".

Names carry much of a news question, and an embedding model matches them poorly across scripts. A
Cyrillic word of the question is transliterated to Latin letters in the ways the corpus may spell it
(English-style for Russian and for Ukrainian, German-style) and compared with the corpus vocabulary by a
consonant key and by character trigrams; a close match joins the BM25 query as if the question had
spelled it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable

_LETTERS = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяієїґ"
# English-style (BGN/PCGN-like) transliteration of Russian; the Ukrainian letters as Ukrainian spells them.
_EN = dict(zip(_LETTERS, ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p",
                          "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya",
                          "i", "ye", "yi", "g"]))
# Ukrainian reads и as y and г as h (Kharkiv, Mykolaiv, Hostomel).
_UK = {**_EN, "и": "y", "г": "h", "й": "i"}
# German newspapers' spelling (Charkiw, Selenskyj, Tschernihiw, Saporischschja).
_DE = {**_EN, "в": "w", "ж": "sch", "з": "s", "й": "j", "х": "ch", "ц": "z", "ч": "tsch", "ш": "sch",
       "щ": "schtsch", "ы": "y", "ю": "ju", "я": "ja", "є": "je", "ї": "ji", "с": "s"}
_UK_DE = {**_DE, "и": "y", "г": "h"}
_UKRAINIAN_LETTERS = frozenset("ієїґ")
_CYRILLIC_WORD = re.compile(r"^[\u0400-\u04ff]+$")
MIN_LENGTH = 4
MIN_SIMILARITY = 0.4


def transliterate(word: str, table: dict[str, str] | None = None) -> str:
    """Latin spelling of a Cyrillic word (English-style unless another table is given)."""
    table = _EN if table is None else table
    return "".join(table.get(ch, ch) for ch in word.lower())


def spellings(word: str) -> list[str]:
    """The Latin spellings a corpus may use for `word`: English- and German-style, Russian and Ukrainian
    readings (a Ukrainian letter in the word rules out the Russian ones)."""
    lowered = word.lower()
    tables = [_UK, _UK_DE] if _UKRAINIAN_LETTERS & set(lowered) else [_EN, _DE, _UK, _UK_DE]
    out: dict[str, None] = {}
    for table in tables:
        out.setdefault(transliterate(lowered, table), None)
    return [s for s in out if s]


def skeleton(word: str) -> str:
    """Consonants without repeats, w read as v, j and y as vowels: "Sullivan" and "Салливан" (sallivan)
    both give "slvn", "Kiew" and "Київ" (kyiv) "kv"; spellings disagree mostly about vowels."""
    out: list[str] = []
    for ch in word.lower().replace("w", "v"):
        if ch in "aeiouyj":
            continue
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


def _trigrams(word: str) -> set[str]:
    padded = f" {word} "
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


class NameMatcher:
    """Consonant-key and trigram indexes over the corpus vocabulary's Latin words, built on first use."""

    def __init__(self, vocabulary: list[str], stem: Callable[[str], str] | None = None) -> None:
        """`vocabulary`: the corpus terms; `stem`: how the corpus stemmed them ("Biden" is "bid" in a
        German index), applied to each spelling too."""
        self._stem = stem
        self._index: dict[str, list[int]] = defaultdict(list)
        self._words = [w for w in vocabulary if len(w) >= 3 and w.isascii() and w.isalpha()]
        self._grams = [_trigrams(w) for w in self._words]
        for i, grams in enumerate(self._grams):
            for gram in grams:
                self._index[gram].append(i)
        self._by_key: dict[str, list[int]] = defaultdict(list)
        for i, w in enumerate(self._words):
            key = skeleton(w)
            if len(key) >= 2:
                self._by_key[key].append(i)

    def _similarity(self, latin: str, i: int) -> float:
        grams = _trigrams(latin)
        return len(grams & self._grams[i]) / len(grams | self._grams[i])

    def match(self, word: str) -> str | None:
        """The corpus word closest to a spelling of `word`, if it is close enough."""
        if len(word) < MIN_LENGTH or not _CYRILLIC_WORD.match(word):
            return None
        best, best_sim = None, 0.0
        candidates = spellings(word)
        if self._stem is not None:
            candidates += [s for s in map(self._stem, candidates) if s not in candidates]
        for latin in candidates:
            if len(latin) < 3:  # "ъъъъъ" transliterates to nothing
                continue
            key = skeleton(latin)
            for i in self._by_key.get(key, ()):
                w = self._words[i]
                # A short key ("kv") says little: then the spelling must also look alike.
                if len(key) <= 2 and (w[0] != latin[0] or abs(len(w) - len(latin)) > 1):
                    continue
                sim = 1.0 + self._similarity(latin, i)  # a key match beats any trigram-only match
                if sim > best_sim:
                    best, best_sim = w, sim
            if best_sim >= 1.0 or len(latin) < 5:
                continue
            counts: dict[int, int] = defaultdict(int)
            for gram in _trigrams(latin):
                for i in self._index.get(gram, ()):
                    counts[i] += 1
            for i in counts:
                sim = self._similarity(latin, i)
                if sim > MIN_SIMILARITY and sim > best_sim:
                    best, best_sim = self._words[i], sim
        return best
