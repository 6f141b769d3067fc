"""Cheap language guessing and per-language text analysis (for BM25 and sentence splitting).

A guess from stopwords is enough here: it picks a stemmer and a sentence splitter, and a wrong guess
costs a little recall, never an answer.
"""

from __future__ import annotations

import re
from functools import cache

# Languages with both a Snowball stemmer and a pysbd sentence splitter.
SUPPORTED = ("de", "en", "ru", "es", "fr", "it", "nl", "da", "pl")
SNOWBALL_NAMES = {"de": "german", "en": "english", "ru": "russian", "es": "spanish", "fr": "french",
                  "it": "italian", "nl": "dutch", "da": "danish", "pl": "polish", "cs": "czech",
                  "pt": "portuguese"}
# pysbd has no splitter for these; a related language's rules split them well enough.
SPLITTER_FOR = {"uk": "ru", "cs": "pl", "pt": "es"}

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
        son ses leur leurs ce cette ces il elle ils elles nous vous je très plus qu quoi""".split()),
    "it": frozenset("""il lo la i gli le un una e o ma non è sono era erano essere ha hanno di del della
        dei delle al alla in con per come che chi cosa quale quali quando dove perché quanto si suo sua
        suoi questo questa molto più a ci quanti quante cosa""".split()),
    "nl": frozenset("""de het een en of maar niet is zijn was waren wordt worden werd heeft hebben had
        van te in op aan met voor uit als dat die dit deze wie wat welke wanneer waar waarom hoe veel
        zich hij zij wij ze ook nog""".split()),
    "da": frozenset("""og i at det en den til er som på de med han af for ikke der var mig sig men et har
        om vi min havde ham hun nu over da fra du ud sin dem os op man hans hvor eller hvad skal""".split()),
    "uk": frozenset("""і й та але не що як це він вона воно вони ми ви я ти у в на з із зі до від для
        про за по при без над під після через чи ще вже який яка яке які якого хто де коли чому скільки
        його її їх був була було були буде є бути мене мені нам вам собі цей ця ці той та те також
        тільки навіть або чим щоб бо так ні""".split()),
    "pl": frozenset("""i w we z ze na do od o u a ale nie jest są był była było byli być to ten ta te
        tego tej jak co kto gdzie kiedy dlaczego ile który która które którzy się jego jej ich dla po
        przez przy pod nad za czy już także oraz lub jaki jaka jakie ile""".split()),
    "cs": frozenset("""a i v ve na do od o u z ze k ke s se je jsou byl byla bylo byli být to ten ta
        tento tato toto jak co kdo kde kdy proč kolik který která které jeho její jejich pro po při
        pod nad za že ale nebo už také jaký jaká jaké""".split()),
    "pt": frozenset("""o a os as um uma e ou mas não é são foi foram ser estar de do da dos das em no
        na nos nas por para com como que quem qual quais quando onde quantos quantas se seu sua seus
        suas este esta muito mais""".split()),
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


# Letters that only some languages use: a strong hint even in a one-line question.
_LETTER_HINTS: dict[str, str] = {
    "uk": "ієїґ", "ru": "ыэъё", "de": "äöüß", "pl": "ąęłńśźż", "cs": "řůěťď", "es": "ñ¿¡",
    "fr": "çœêëîïû", "pt": "ãõâ", "it": "ìò", "da": "æø", "nl": "ĳ",
}
DETECTABLE = ("de", "en", "ru", "uk", "es", "fr", "it", "pl", "cs", "pt", "nl", "da")


def detect_language(text: str, default: str = "de") -> str:
    """The language of `text` among DETECTABLE; `default` when there is no evidence."""
    return _guess(text, default) or default


def guess_language(text: str) -> str | None:
    """The language of `text`, or None when nothing in it tells ("Kursk?")."""
    return _guess(text, None)


def _guess(text: str, default: str | None) -> str | None:
    """Works on one-line questions: stopwords count once each, letters only some languages use count
    double; Cyrillic text is Russian unless it shows Ukrainian."""
    sample = text[:4000].lower()
    tokens = [part for tok in words(sample) for part in re.split(r"['’]", tok) if part]  # qu'a -> qu, a
    if not tokens:
        return default
    letters = [ch for ch in sample if ch.isalpha()]
    cyrillic = letters and sum(1 for ch in letters if _CYRILLIC_RE.match(ch)) / len(letters) > 0.3
    candidates = ("ru", "uk") if cyrillic else tuple(lang for lang in DETECTABLE if lang not in ("ru", "uk"))
    chars = set(sample)
    scores: dict[str, float] = {}
    for lang in candidates:
        stops = STOPWORDS.get(lang, frozenset())
        score = float(sum(1 for tok in tokens if tok in stops))
        score += 2.0 * len(chars & set(_LETTER_HINTS.get(lang, "")))
        scores[lang] = score
    best = max(candidates, key=lambda lang: (scores[lang], lang == default))
    if scores[best] > 0:
        return best
    return "ru" if cyrillic else None


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
