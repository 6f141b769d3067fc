"""Incremental updates: what adding, changing and removing one article costs against a full build, at
a given index size, with the hash backend (so that the model's time is not counted).

The corpus is synthetic (`synthetic_texts`: German-like words in sentences of 8-14 words, paragraphs
of up to 480 characters, so one passage each), ten paragraphs to an article. Adding and changing go
through `QAService.index(paths)`, as `qa-bot index FILE` does; removing goes through `QAService.index()`
over the whole folder (`qa-bot index`), which also reads and hashes every article to see what is gone,
so that figure includes the folder scan.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .synthetic import synthetic_texts

PARAGRAPHS_PER_ARTICLE = 10


def paragraph(text: str, max_chars: int = 480) -> str:
    """Generated words as a paragraph of sentences of 8-14 words that stays one passage (under the
    500-character passage limit), so `passages` paragraphs make about that many passages."""
    words = text.split()
    sentences, i = [], 0
    while i < len(words):
        n = 8 + (len(words[i]) + i) % 7
        chunk = words[i:i + n]
        sentences.append(chunk[0][:1].upper() + chunk[0][1:] + " " + " ".join(chunk[1:]) + ".")
        i += n
    out = ""
    for sentence in sentences:
        if len(out) + len(sentence) + 1 > max_chars:
            break
        out = f"{out} {sentence}".strip()
    return out


def write_articles(dest: Path, passages: int, seed: int = 5) -> list[Path]:
    """About `passages` one-passage paragraphs of synthetic text as articles of ten paragraphs each."""
    dest.mkdir(parents=True, exist_ok=True)
    texts, _ = synthetic_texts(passages, queries=0, seed=seed)
    paths = []
    for i in range(0, len(texts), PARAGRAPHS_PER_ARTICLE):
        path = dest / f"article_{i // PARAGRAPHS_PER_ARTICLE:06d}.txt"
        body = "\n\n".join(paragraph(t) for t in texts[i:i + PARAGRAPHS_PER_ARTICLE])
        path.write_text(body + "\n", "utf-8")
        paths.append(path)
    return paths


def measure_updates(work: Path, passages: int) -> dict[str, Any]:
    """Seconds of a full build of about `passages` passages and of each one-article update after it."""
    from ..service import QAService
    from ..settings import load_settings

    articles = work / "articles"
    paths = write_articles(articles, passages)
    settings = load_settings(env={}, backend="hash", index_dir=work / "index", articles_dir=articles)
    service = QAService(settings)
    full = service.index()
    extra = work / "extra"
    added = write_articles(extra, PARAGRAPHS_PER_ARTICLE, seed=99)[0].rename(articles / "zz_added.txt")
    add = service.index([added])
    changed = paths[len(paths) // 2]
    changed.write_text(changed.read_text("utf-8") + "\nEin neuer Absatz am Ende.\n", "utf-8")
    change = service.index([changed])
    paths[1].unlink()
    remove = service.index()
    start = time.perf_counter()
    snapshot = QAService(settings).snapshot  # what a reader (the bot's hot reload) then loads
    open_s = time.perf_counter() - start
    out = {"passages": full.passages_total, "articles": len(paths), "full_build_s": full.seconds,
           "add_s": add.seconds, "add_passages": add.passages_embedded,
           "change_s": change.seconds, "change_passages": change.passages_embedded,
           "remove_with_scan_s": remove.seconds, "open_snapshot_s": open_s,
           "segments": len(getattr(snapshot, "segments", ())) or 1}
    out["add_share"] = out["add_s"] / max(out["full_build_s"], 1e-9)
    snapshot.close()
    return out
