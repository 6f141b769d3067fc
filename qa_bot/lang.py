"""Cheap language guessing and per-language text analysis (for BM25 and sentence splitting).

A guess from stopwords is enough here: it picks a stemmer and a sentence splitter, and a wrong guess
costs a little recall, never an answer.
"""

from __future__ import annotations

import re
from functools import cache

# Languages with both a Snowball stemmer and a pysbd sentence splitter.
SUPPORTED = ("de", "en", "ru", "es", "fr", "it", "nl", "da")
SNOWBALL_NAMES = {"de": "german", "en": "english", "ru": "russian", "es": "spanish", "fr": "french",
                  "it": "italian", "nl": "dutch", "da": "danish"}

STOPWORDS: dict[str, frozenset[str]] = {
    "de": frozenset("""der die das den dem des ein eine einer eines einem einen und oder aber nicht ist
        sind war waren wird werden wurde wurden hat haben hatte sich mit von zu zum zur im in am an auf
        aus bei für über unter nach vor als auch es er sie wir ihr ich du man dass daß so wie was wer wo
        wann warum welche welcher welches wieviel viele noch nur sehr dieser diese dieses diesen kann
        können soll sollte um durch gegen ohne bis seit sein seine seiner ihre ihren ihrem dann denn
        doch ja nein mehr heute""".split()),
    "en": frozenset("""the a an and or but not is are was were be been being has have had do does did
        of to in on at by for with from as that this these those it its he she they we you i what who
        whom which when where why how many much does did will would can could should about into over
        after before than then there their his her our your""".split()),
    "es": frozenset("""el la los las un una unos unas y o pero no es son era fue fueron ser estar está
        están ha han de del al a en con por para como que qué quién quiénes cuál cuáles cuándo dónde
        cómo cuántos cuántas se su sus le les lo este esta estos estas muy más""".split()),
    "fr": frozenset("""le la les un une des et ou mais ne pas est sont était été être a ont de du au aux
        en dans sur par pour avec comme que qui quoi quel quelle quels quand où comment combien se sa
        son ses leur leurs ce cette ces il elle ils elles nous vous je très plus""".split()),
    "it": frozenset("""il lo la i gli le un una e o ma non è sono era erano essere ha hanno di del della
        dei delle al alla in con per come che chi cosa quale quali quando dove perché quanto si suo sua
        suoi questo questa molto più""".split()),
    "nl": frozenset("""de het een en of maar niet is zijn was waren wordt worden werd heeft hebben had
        van te in op aan met voor uit als dat die dit deze wie wat welke wanneer waar waarom hoe veel
        zich hij zij wij ze ook nog""".split()),
    "da": frozenset("""og i at det en den til er som på de med han af for ikke der var mig sig men et har
        om vi min havde ham hun nu over da fra du ud sin dem os op man hans hvor eller hvad skal""".split()),
    "ru": frozenset("""и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по
        только ее мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни
        быть был него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где есть
        надо ней для мы тебя их чем была сам чтобы без будто чего раз тоже себе под будет ж тогда кто
        этот того потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были
        куда зачем всех никогда можно при наконец два об другой хоть после над больше тот через эти
        нас про всего них какая много разве три эту моя впрочем хорошо свою этой перед иногда лучше
        чуть том нельзя такой им более всегда конечно всю между сколько какие каким""".split()),
}

WORD_RE = re.compile(r"\w+(?:[-'’]\w+)*", re.UNICODE)
_CYRILLIC_RE = re.compile(r"[\u0400-\u04FF]")


def words(text: str) -> list[str]:
    """Lower-cased word tokens; hyphenated compounds stay whole (`Kim Jong-un`)."""
    return WORD_RE.findall(text.lower())


def detect_language(text: str, default: str = "de") -> str:
    """Guess the language of `text` among SUPPORTED; `default` when there is no evidence."""
    sample = text[:4000]
    tokens = words(sample)
    if not tokens:
        return default
    letters = [ch for ch in sample if ch.isalpha()]
    if letters and sum(1 for ch in letters if _CYRILLIC_RE.match(ch)) / len(letters) > 0.3:
        return "ru"
    best, best_hits = default, 0
    for lang, stops in STOPWORDS.items():
        if lang == "ru":
            continue
        hits = sum(1 for tok in tokens if tok in stops)
        if hits > best_hits:
            best, best_hits = lang, hits
    return best


@cache
def stemmer(lang: str):  # -> Stemmer.Stemmer | None
    """A Snowball stemmer for `lang`, or None for languages without one."""
    import Stemmer

    name = SNOWBALL_NAMES.get(lang)
    return Stemmer.Stemmer(name) if name else None


def analyze(text: str, lang: str) -> list[str]:
    """Tokens for BM25: lower-cased words without stopwords, stemmed with the language's stemmer."""
    stops = STOPWORDS.get(lang, frozenset())
    toks = [t for t in words(text) if t not in stops]
    stem = stemmer(lang)
    return stem.stemWords(toks) if stem is not None else toks
