import json

import pytest
from click.testing import CliRunner

from qa_bot.cli import cli
from qa_bot.evaluate import eval_questions, eval_xquad
from qa_bot.settings import load_settings


@pytest.fixture
def question_file(tmp_path):
    path = tmp_path / "q.json"
    path.write_text(json.dumps({"questions": [
        {"id": "a", "lang": "de", "q": "Wie heißt der nationale Sicherheitsberater der USA?",
         "gold": ["jake  SULLIVAN"]},
        {"id": "b", "lang": "de", "q": "In welche russische Region wurden die Truppen verlegt?",
         "gold": ["Region Kursk"]},
        {"id": "c", "lang": "de", "q": "Wie backe ich einen Apfelkuchen?", "gold": []},
        {"id": "d", "lang": "en", "q": "What is the capital of Australia?", "gold": ["Canberra"]},
    ]}), "utf-8")
    return path


def test_question_metrics(shared_hash_service, question_file):
    result = eval_questions(shared_hash_service, question_file)
    assert result["questions"] == 4
    assert result["hit@1"] == pytest.approx(2 / 3)  # d is answerable in the file but not in the articles
    assert result["abstain_accuracy"] == pytest.approx(3 / 4)
    assert result["per_lang"]["de"]["hit@1"] == 1.0 and result["per_lang"]["en"]["hit@1"] == 0.0
    assert result["failures"] == ["d"]


@pytest.fixture
def tiny_xquad(tmp_path):
    """Three paragraphs in XQuAD's format, with questions in German and English."""
    paragraphs = [
        ("Die Panthers gewannen das Spiel mit 24 zu 10. Der Quarterback warf drei Touchdowns.",
         "Wie viele Touchdowns warf der Quarterback?", "How many touchdowns did the quarterback throw?"),
        ("Der Rhein fließt durch Basel und Köln. Er mündet in die Nordsee.",
         "Wo mündet der Rhein?", "Where does the Rhine flow into?"),
        ("Die Universität wurde 1386 in Heidelberg gegründet. Sie ist die älteste in Deutschland.",
         "Wann wurde die Universität Heidelberg gegründet?", "When was Heidelberg University founded?"),
    ]
    folder = tmp_path / "xquad"
    folder.mkdir()
    for lang, qi in (("de", 1), ("en", 2)):
        data = {"data": [{"paragraphs": [{"context": p[0], "qas": [{"id": str(i), "question": p[qi]}]}
                                         for i, p in enumerate(paragraphs)]}]}
        (folder / f"xquad.{lang}.json").write_text(json.dumps(data), "utf-8")
    return folder


def test_xquad_recall_per_language_and_retriever(tiny_xquad):
    result = eval_xquad(load_settings(env={}, backend="hash"), tiny_xquad, ["de", "en"], ["bm25", "dense", "fused"],
                        progress=False)
    assert set(result) == {"de", "en"} and set(result["de"]) == {"bm25", "dense", "fused"}
    assert result["de"]["fused"]["recall@1"] == 1.0 and result["de"]["bm25"]["mrr@10"] == 1.0
    for modes in result.values():
        for m in modes.values():
            assert 0 <= m["recall@1"] <= m["recall@5"] <= 1 and m["questions"] == 3


def test_eval_command_json(tiny_xquad, question_file, articles, tmp_path):
    result = CliRunner().invoke(cli, ["eval", "--backend", "hash", "--questions", str(question_file),
                                      "--xquad", str(tiny_xquad), "--langs", "de", "--retrievers", "fused",
                                      "--articles", str(articles), "--index-dir", str(tmp_path / "i"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"questions", "xquad"}
    assert set(data["questions"]) >= {"hit@1", "hit@3", "mrr", "abstain_accuracy", "per_lang"}
    assert set(data["xquad"]["de"]["fused"]) >= {"recall@1", "recall@5", "mrr@10"}


def test_eval_needs_something_to_measure():
    result = CliRunner().invoke(cli, ["eval"])
    assert result.exit_code == 2 and "Give --questions FILE, --xquad DIR, or both." in result.stderr
