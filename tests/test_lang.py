"""Language detection on one-line questions: it picks the BM25 analysis, the fusion weight and the
bot's reply language."""

import pytest

from qa_bot.lang import detect_language, guess_language

ONE_LINERS = [
    ("de", "Wer ist Jake Sullivan?"), ("de", "Wie viele Soldaten sind in Kursk?"), ("de", "Was sagte Biden?"),
    ("en", "Who is Jake Sullivan?"), ("en", "What did Biden say?"), ("en", "How many troops are in Kursk?"),
    ("ru", "Кто такой Джейк Салливан?"), ("ru", "Что сказал Байден?"), ("ru", "Сколько стоит биткоин?"),
    ("uk", "Хто такий Андрій Єрмак?"), ("uk", "Що сказав Байден?"), ("uk", "Де Київ?"),
    ("es", "¿Quién es Jake Sullivan?"), ("es", "¿Qué ciudad fue atacada por drones rusos?"),
    ("fr", "Qui est Jake Sullivan ?"), ("fr", "Qu'a dit Biden ?"), ("fr", "Combien de soldats sont à Koursk ?"),
    ("it", "Chi è Jake Sullivan?"), ("it", "Quanti soldati ci sono a Kursk?"),
    ("pl", "Kim jest Jake Sullivan?"), ("pl", "Ilu żołnierzy jest w Kursku?"),
    ("cs", "Kdo je Jake Sullivan?"), ("cs", "Co řekl Biden?"),
]


@pytest.mark.parametrize("lang, question", ONE_LINERS)
def test_one_line_questions(lang, question):
    assert detect_language(question) == lang


def test_no_evidence_is_no_guess():
    assert guess_language("Kursk?") is None and detect_language("Kursk?", default="de") == "de"
    assert guess_language("Курск?") == "ru"  # Cyrillic without Ukrainian letters reads as Russian
