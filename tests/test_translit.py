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
