"""Turning the 👍 / 👎 users gave into something to act on: a summary, and the 👎 questions as an eval
question file (the format of the seed questions), so that real users' misses become test data."""

from __future__ import annotations

from pathlib import Path

from ..lang import detect_language

ABOUT = ("Questions users of the bot rated 👎 (exported by `qa-bot feedback --export`). gold is empty: for each "
         "question, put in a substring of the passage that answers it (case-insensitive, whitespace folded), "
         "or leave it empty if the articles do not answer it, in which case the bot should say so. Then run "
         "`qa-bot eval --questions FILE`.")


def export_misses(rated: list[dict]) -> dict:
    """{"about", "questions": [{"id", "lang", "q", "gold"}]}: each question rated 👎 more than 👍, once."""
    questions, seen = [], set()
    for row in sorted(rated, key=lambda r: r["answer_id"]):
        key = " ".join(row["question"].split()).casefold()
        if row["down"] <= row["up"] or key in seen:
            continue
        seen.add(key)
        # The question's own language (the seed file's meaning of "lang"), not the user's app language.
        lang = detect_language(row["question"]) or row["lang"]
        questions.append({"id": f"feedback-{row['answer_id']}", "lang": lang, "q": row["question"], "gold": []})
    return {"about": ABOUT, "questions": questions}


def summary_text(path: Path, counts: dict, rated: list[dict], limit: int = 20) -> str:
    lines = [f"{counts['answers_shown']} answer(s) shown, {counts['answers_rated']} rated: {counts['up']} 👍, "
             f"{counts['down']} 👎 (from {path})."]
    misses = [r for r in rated if r["down"] > r["up"]]
    if misses:
        lines.append(f"Rated 👎 ({len(misses)}, newest first):")
    for row in misses[:limit]:
        shown = row["passages"][0] if row["passages"] else None
        where = (f"rank 1: {shown['title']}, paragraph {shown['paragraph']}" if shown else
                 "nothing found" if row["offset"] == 0 else "a later page")
        lines.append(f"  {row['asked_at']}  [{row['lang']}]  {row['question']}  ({where})")
    if len(misses) > limit:
        lines.append(f"  … and {len(misses) - limit} more (`--json` lists them all)")
    return "\n".join(lines)
