"""The project's own question file: valid, in the seed question format, and every gold answer is really
in the seed articles (so a miss is the retriever's, not the file's)."""

from __future__ import annotations

import json

from conftest import ROOT, SEEDS


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def test_own_questions_are_answerable_from_the_seeds_or_marked_unanswerable():
    data = json.loads((ROOT / "eval" / "questions.json").read_text("utf-8"))
    assert set(data) == {"about", "questions"}
    questions = data["questions"]
    assert len({q["id"] for q in questions}) == len(questions) >= 15
    seeds = _fold(" ".join(p.read_text("utf-8") for p in sorted(SEEDS.glob("*.txt"))))
    for q in questions:
        assert set(q) == {"id", "lang", "q", "gold"} and q["q"].strip()
        assert all(_fold(g) in seeds for g in q["gold"]), q["id"]
    assert {q["lang"] for q in questions} >= {"de", "en", "ru", "uk", "es", "fr"}
    assert sum(not q["gold"] for q in questions) >= 3
