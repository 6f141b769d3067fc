import pytest

from qa_bot.translit import NameMatcher, skeleton, transliterate


def test_transliteration_and_skeletons():
    assert transliterate("Салливан") == "sallivan"
    assert transliterate("Щука") == "shchuka"
    assert skeleton("Sullivan") == skeleton("sallivan") == "slvn"
    assert skeleton("Kiew") == "kv"


@pytest.mark.parametrize("word, expected", [
    ("салливан", "sullivan"), ("зеленский", "zelensky"), ("курск", "kursk"),
    ("пэт", None), ("демократия", None), ("Sullivan", None),
])
def test_matches_close_corpus_words_only(word, expected):
    matcher = NameMatcher(["sullivan", "zelensky", "kursk", "pentagon", "ukraine", "über"])
    assert matcher.match(word) == expected


def test_words_that_transliterate_to_nothing():
    assert NameMatcher(["sullivan"]).match("ъъъъъ") is None


def test_query_terms_cache_is_thread_safe(shared_hash_service):
    from concurrent.futures import ThreadPoolExecutor

    bm25 = shared_hash_service.snapshot.bm25
    questions = [f"Frage Nummer {i} über Kursk" for i in range(1500)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(bm25.query_terms, questions))
    assert all("kursk" in r for r in results)


@pytest.mark.parametrize("word, corpus_word", [
    ("київ", "kiew"), ("харків", "charkiw"), ("єрмак", "yermak"), ("зеленський", "selenskyj"),
    ("байден", "biden"), ("пентагон", "pentagon"),
])
def test_ukrainian_and_german_spellings(word, corpus_word):
    matcher = NameMatcher(["kiew", "charkiw", "yermak", "selenskyj", "biden", "pentagon", "krieg", "kanada"])
    assert matcher.match(word) == corpus_word


def test_a_stemmed_vocabulary_is_matched_through_the_stemmer():
    from qa_bot.lang import stemmer

    german = stemmer("de")
    matcher = NameMatcher([german.stemWord("biden"), "kursk"], german.stemWord)  # a German index has "bid"
    assert matcher.match("байден") == "bid"
