"""👍 / 👎 under every answer: stored with the question and the passages shown, summarised by /stats and
`qa-bot feedback`, and the 👎 questions exported as an eval question file."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from click.testing import CliRunner
from test_bot_handlers import BOT, feed, message, offline_bot

from qa_bot.cli import cli
from qa_bot.evaluate import eval_questions

ANSWERED = "Wie heißt der nationale Sicherheitsberater der USA?"
MISSED = "Wie backe ich einen Apfelkuchen?"


def press(update_id: int, user_id: int, data: str, message_id: int = 77) -> dict:
    bot_message = {"message_id": message_id, "date": int(time.time()), "text": "x", "from": BOT,
                   "chat": {"id": user_id, "type": "private"}}
    return {"update_id": update_id, "callback_query": {
        "id": f"c{update_id}", "chat_instance": "i", "data": data, "message": bot_message,
        "from": {"id": user_id, "is_bot": False, "first_name": "U", "language_code": "en"}}}


def buttons(sent: dict) -> dict[str, str]:
    return {b["text"]: b["callback_data"] for row in sent["reply_markup"]["inline_keyboard"] for b in row}


def test_feedback_is_stored_summarised_and_exported(shared_hash_service, tmp_path: Path, monkeypatch) -> None:
    state_file = tmp_path / "state.db"
    sent_box: dict = {}
    app, request = offline_bot(shared_hash_service, tmp_path, admin_ids=frozenset({7}), min_score=0.15)

    async def scenario() -> None:
        async with app:
            await feed(app, message(1, ANSWERED, update_id=1), message(2, MISSED, update_id=2))
            answered, missed = (buttons(sent) for sent in request.sent())
            sent_box.update(answered=answered, missed=missed)
            await feed(app, press(3, 1, answered["👍"]), press(4, 2, missed["👎"]), press(5, 3, missed["👎"]),
                       press(6, 3, missed["👎"]), press(7, 1, "f:999999:d"), press(8, 1, "f:1:x"),
                       message(7, "/stats", update_id=9))

    asyncio.run(scenario())
    assert set(sent_box["answered"]) == {"Mehr ▸", "👍", "👎"} and set(sent_box["missed"]) == {"👍", "👎"}
    assert all(len(data.encode()) <= 64 for data in sent_box["answered"].values())
    answers = request.named("answerCallbackQuery")
    assert [a.get("text", "").startswith("Thank you") for a in answers] == [True, True, True, True, False, False]
    assert all(a.get("show_alert") for a in answers[4:])  # forged: a polite alert, nothing stored
    stats = json.loads(request.sent()[-1]["text"].removeprefix("<pre>").removesuffix("</pre>")
                       .replace("&quot;", '"'))
    assert stats["feedback"] == {"answers_shown": 2, "answers_rated": 2, "up": 1, "down": 2}

    monkeypatch.setenv("QA_BOT_STATE_FILE", str(state_file))
    summary = CliRunner().invoke(cli, ["feedback"])
    assert summary.exit_code == 0, summary.output
    assert summary.stdout.splitlines()[0] == f"2 answer(s) shown, 2 rated: 1 👍, 2 👎 (from {state_file})."
    assert f"[de]  {MISSED}  (nothing found)" in summary.stdout and ANSWERED not in summary.stdout

    rated = json.loads(CliRunner().invoke(cli, ["feedback", "--json"]).stdout)["answers"]
    good = next(r for r in rated if r["question"] == ANSWERED)
    assert (good["up"], good["down"], good["answered"]) == (1, 0, True)
    assert [p["rank"] for p in good["passages"]] == [1, 2, 3] and "Jake Sullivan" in good["passages"][0]["text"]

    out = tmp_path / "misses.json"
    export = CliRunner().invoke(cli, ["feedback", "--export", str(out)])
    assert export.stdout == f"Wrote 1 question(s) rated 👎 to {out}.\n"
    data = json.loads(out.read_text("utf-8"))
    assert set(data) == {"about", "questions"}
    assert data["questions"] == [{"id": data["questions"][0]["id"], "lang": "de", "q": MISSED, "gold": []}]
    assert eval_questions(shared_hash_service, out)["per_lang"]["de"]  # `qa-bot eval --questions` reads it


def test_feedback_without_a_state_file_says_where_it_looked(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("QA_BOT_INDEX_DIR", str(tmp_path / "index"))
    result = CliRunner().invoke(cli, ["feedback"])
    assert result.exit_code == 1 and f"No bot state file at {tmp_path}/index/bot-state.sqlite3" in result.output


def test_replicas_keep_feedback_in_postgresql(pg_settings, monkeypatch) -> None:
    from qa_bot.bot.shared import SharedState

    state = SharedState(pg_settings)
    try:
        passages = [{"rank": 1, "passage_id": 3, "doc_id": "d", "paragraph": 2, "title": "T", "score": 0.5,
                     "text": "Jake Sullivan traf Yermak."}]
        good = state.record_answer(ANSWERED, "de", 0, True, passages)
        missed = state.record_answer(MISSED, "de", 0, False, [])
        assert state.vote(good, 1, 1) and state.vote(missed, 2, -1) and state.vote(missed, 2, -1)
        assert not state.vote(10**9, 1, -1)  # unknown answer: nothing stored
        assert state.feedback_summary() == {"answers_shown": 2, "answers_rated": 2, "up": 1, "down": 1}
    finally:
        state.close()
    monkeypatch.setenv("QA_BOT_DATABASE_URL", pg_settings.database_url)
    monkeypatch.setenv("QA_BOT_DATABASE_SCHEMA", pg_settings.database_schema)
    result = CliRunner().invoke(cli, ["feedback", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["up"], data["down"]) == (1, 1) and "password" not in result.stdout
    [miss, hit] = data["answers"]
    assert (miss["question"], miss["down"], hit["passages"][0]["title"]) == (MISSED, 1, "T")
