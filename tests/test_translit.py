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
