"""Bench inputs: a realistic corpus and a few hundred real questions.

XQuAD (German paragraphs, questions in several languages) is read at run time from the folder given
with `--xquad` or QA_BOT_BENCH_XQUAD; without it the bench falls back to the articles folder and
questions cut from its own sentences, so the bench still runs anywhere (tests, a fresh server).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

XQUAD_ENV = "QA_BOT_BENCH_XQUAD"


def find_xquad(folder: Path | None = None) -> Path | None:
    """The XQuAD folder (`folder`, else env QA_BOT_BENCH_XQUAD) when it holds xquad.de.json, else None."""
    raw = os.environ.get(XQUAD_ENV)
    path = folder or (Path(raw) if raw else None)
    return path if path is not None and (path / "xquad.de.json").is_file() else None


def _load(xquad: Path, lang: str) -> list[dict]:
    return json.loads((xquad / f"xquad.{lang}.json").read_text("utf-8"))["data"]


def write_xquad_articles(xquad: Path, dest: Path, limit: int | None = None) -> int:
    """Write the German XQuAD articles (one per Wikipedia title) as Markdown files; returns how many."""
    dest.mkdir(parents=True, exist_ok=True)
    articles = _load(xquad, "de")[:limit]
    for i, art in enumerate(articles):
        title = art["title"].replace("_", " ")
        body = "\n\n".join(p["context"].strip() for p in art["paragraphs"])
        text = f"---\ntitle: {json.dumps(title, ensure_ascii=False)}\nlang: de\n---\n{body}\n"
        (dest / f"xquad_{i:03d}.md").write_text(text, "utf-8")
    return len(articles)


def xquad_questions(xquad: Path, count: int, langs: tuple[str, ...] = ("de", "en"),
                    limit_articles: int | None = None) -> list[str]:
    """`count` questions, alternating languages, spread over the (first `limit_articles`) articles."""
    per_lang = []
    for lang in langs:
        path = xquad / f"xquad.{lang}.json"
        if path.is_file():
            per_lang.append([q["question"] for a in _load(xquad, lang)[:limit_articles]
                             for p in a["paragraphs"] for q in p["qas"]])
    out: list[str] = []
    for i in range(max((len(qs) for qs in per_lang), default=0)):
        for qs in per_lang:
            if i < len(qs):
                out.append(qs[i])
    step = max(1, len(out) // max(count, 1))
    return out[::step][:count]


def questions_from_texts(texts: list[str], count: int, words: int = 8) -> list[str]:
    """Questions cut from the corpus's own sentences (the first words of each): a fallback only."""
    from ..lang import words as split_words

    out: list[str] = []
    for text in texts:
        for sentence in text.replace("?", ".").split(". "):
            toks = split_words(sentence)
            if len(toks) >= 4:
                out.append(" ".join(toks[:words]) + "?")
    return (out * (count // max(len(out), 1) + 1))[:count] if out else []
