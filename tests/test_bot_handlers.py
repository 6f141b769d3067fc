"""Handlers tested offline: python-telegram-bot's own Update objects go through `Application.process_update`,
and a recording `BaseRequest` answers the Bot API calls without any network."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from fake_bot_api import html_problem
from telegram import Update
from telegram.request import BaseRequest, RequestData

from qa_bot.bot.app import build_application
from qa_bot.bot.handlers import addressed_question

TOKEN = "1111111:offline-handler-test-token"
BOT = {"id": 5550001, "is_bot": True, "first_name": "QA", "username": "qa_offline_bot"}


class RecordingRequest(BaseRequest):
    """Answers every Bot API method like Telegram would, and records what was called."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._ids = 1000

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         **timeouts: Any) -> tuple[int, bytes]:
        name = url.rsplit("/", 1)[-1]
        params = dict(request_data.parameters) if request_data else {}
        self.calls.append((name, params))
        result: Any = True
        if name == "getMe":
            result = BOT
        elif name == "sendMessage":
            self._ids += 1
            result = {"message_id": self._ids, "date": int(time.time()), "text": "x", "from": BOT,
                      "chat": {"id": int(params["chat_id"]), "type": "private"}}
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def sent(self) -> list[dict[str, Any]]:
        return [p for name, p in self.calls if name == "sendMessage"]

    def named(self, method: str) -> list[dict[str, Any]]:
        return [p for name, p in self.calls if name == method]


def message(user_id: int, text: str, chat_id: int | None = None, chat_type: str = "private", lang: str = "de",
            update_id: int = 1, **extra: Any) -> dict[str, Any]:
    chat_id = user_id if chat_id is None else chat_id
    msg = {"message_id": update_id, "date": int(time.time()), "text": text,
           "chat": {"id": chat_id, "type": chat_type, "title": "G"},
           "from": {"id": user_id, "is_bot": False, "first_name": "U", "language_code": lang}}
    if text.startswith("/"):
        msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    msg.update(extra)
    return {"update_id": update_id, "message": msg}


def offline_bot(service, tmp_path: Path, **settings: Any):
    settings = {"telegram_token": TOKEN, "bot_state": tmp_path / "state.db", "health_port": 0, **settings}
    request = RecordingRequest()
    return build_application(service.settings.with_overrides(**settings), service, request=request), request


async def feed(app, *updates: dict[str, Any]) -> None:
    for data in updates:
        await app.process_update(Update.de_json(data, app.bot))


def run(service, tmp_path: Path, scenario, **settings: Any) -> RecordingRequest:
    app, request = offline_bot(service, tmp_path, **settings)

    async def main() -> None:
        async with app:
            await scenario(app)

    asyncio.run(main())
    return request


def test_private_question_is_answered_in_html(shared_hash_service, tmp_path: Path) -> None:
    request = run(shared_hash_service, tmp_path, lambda app: feed(
        app, message(1, "In welche russische Region wurden die nordkoreanischen Truppen verlegt?")))
    [sent] = request.sent()
    assert sent["parse_mode"] == "HTML" and "Region Kursk" in sent["text"] and html_problem(sent["text"]) is None
    assert sent["link_preview_options"] == {"is_disabled": True}
    assert sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"].startswith("m:")


def test_rate_limit_answers_once_with_a_friendly_message(shared_hash_service, tmp_path: Path) -> None:
    question = "Wie heißt der nationale Sicherheitsberater der USA?"
    request = run(shared_hash_service, tmp_path, lambda app: feed(
        app, *(message(1, question, update_id=i, lang="en") for i in range(1, 6)), message(2, question, update_id=9)),
        rate_limit=2)
    texts = [p["text"] for p in request.sent()]
    assert len(texts) == 4  # 2 answers, 1 warning, then silence for user 1; user 2 is unaffected
    assert sum("Jake Sullivan" in t for t in texts) == 3
    assert sum("2 Fragen pro Minute" in t for t in texts) == 1  # in the question's language, not the app's


def test_allow_list_refuses_strangers_once(shared_hash_service, tmp_path: Path) -> None:
    question = "Wie heißt der nationale Sicherheitsberater der USA?"
    inline = {"update_id": 50, "inline_query": {"id": "q1", "query": question, "offset": "",
                                                "from": {"id": 3, "is_bot": False, "first_name": "S"}}}
    request = run(shared_hash_service, tmp_path, lambda app: feed(
        app, message(1, question, update_id=1), message(2, question, update_id=2),
        message(2, "/start", update_id=3), inline), allowed_ids=frozenset({1}))
    sent = request.sent()
    assert [p["chat_id"] for p in sent] == [1, 2]
    assert "privat" in sent[1]["text"]
    [answer] = request.named("answerInlineQuery")
    assert json.loads(json.dumps(answer["results"])) == []


def test_admin_commands_only_for_admins(shared_hash_service, tmp_path: Path) -> None:
    request = run(shared_hash_service, tmp_path, lambda app: feed(
        app, message(1, "/stats", update_id=1, lang="en"), message(7, "/stats", update_id=2),
        message(7, "/reload", update_id=3, lang="en")), admin_ids=frozenset({7}))
    texts = [p["text"] for p in request.sent()]
    assert "administrators only" in texts[0]
    assert texts[1].startswith("<pre>") and "&quot;passages&quot;: 17" in texts[1]
    assert "unchanged (17 passages" in texts[2]
    assert all(html_problem(t) is None for t in texts)


def test_commands_are_registered_with_telegram(shared_hash_service, tmp_path: Path) -> None:
    from qa_bot.bot.app import register_commands

    request = run(shared_hash_service, tmp_path, register_commands, admin_ids=frozenset({7}))
    calls = request.named("setMyCommands")
    assert len(calls) == 3
    default, german, admin = calls
    assert [c["command"] for c in default["commands"]] == ["start", "help", "sources"]
    assert german["language_code"] == "de" and german["commands"][0]["description"].startswith("Was ich")
    assert admin["scope"] == {"type": "chat", "chat_id": 7} and "reload" in json.dumps(admin["commands"])


def test_group_messages_only_when_addressed(shared_hash_service, tmp_path: Path) -> None:
    question = "Wie heißt der nationale Sicherheitsberater der USA?"
    mention = message(4, f"@qa_offline_bot {question}", chat_id=-5, chat_type="group", update_id=2,
                      entities=[{"type": "mention", "offset": 0, "length": 15}])
    request = run(shared_hash_service, tmp_path, lambda app: feed(
        app, message(4, question, chat_id=-5, chat_type="group", update_id=1), mention))
    [sent] = request.sent()
    assert sent["chat_id"] == -5 and "Jake Sullivan" in sent["text"]
    assert sent["reply_parameters"]["message_id"] == 2


def test_addressed_question_strips_the_mention(shared_hash_service, tmp_path: Path) -> None:
    app, _ = offline_bot(shared_hash_service, tmp_path)
    text = "Hey @QA_offline_bot wer ist Sullivan?"
    data = message(4, text, chat_id=-5, chat_type="group")["message"]
    data["entities"] = [{"type": "mention", "offset": 4, "length": 15}]
    msg = Update.de_json({"update_id": 1, "message": data}, app.bot).message
    assert addressed_question(msg, "qa_offline_bot", BOT["id"]) == "Hey wer ist Sullivan?"
    assert addressed_question(msg, "other_bot", BOT["id"]) is None


def test_errors_are_logged_first_then_the_user_is_told(shared_hash_service, tmp_path: Path, caplog,
                                                        monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any):
        raise RuntimeError("index exploded")

    monkeypatch.setattr(shared_hash_service, "search", broken)
    with caplog.at_level(logging.ERROR, logger="qa_bot.bot"):
        request = run(shared_hash_service, tmp_path, lambda app: feed(app, message(1, "Frage?", lang="en")))
    assert any("error handling update 1" in r.getMessage() and r.exc_info for r in caplog.records)
    [sent] = request.sent()
    assert "something went wrong" in sent["text"]
    assert TOKEN not in caplog.text


def test_more_after_the_last_passage_says_so(shared_hash_service, tmp_path: Path) -> None:
    from qa_bot.bot.state import more_data

    async def scenario(app) -> None:
        key = app.bot_data["core"].state.put_question("Wie heißt der nationale Sicherheitsberater der USA?", "de")
        bot_message = {"message_id": 77, "date": int(time.time()), "text": "x", "from": BOT,
                       "chat": {"id": 1, "type": "private"}}
        await feed(app, {"update_id": 5, "callback_query": {
            "id": "c1", "chat_instance": "i", "data": more_data(key, 27), "message": bot_message,
            "from": {"id": 1, "is_bot": False, "first_name": "U", "language_code": "de"}}})

    request = run(shared_hash_service, tmp_path, scenario)
    assert request.named("answerCallbackQuery") == [{"callback_query_id": "c1"}]
    assert request.named("editMessageReplyMarkup")[0]["message_id"] == 77
    [sent] = request.sent()
    assert sent["text"] == "Keine weiteren Stellen." and "reply_markup" not in sent


def test_inline_query_without_words_or_answer_offers_nothing(shared_hash_service, tmp_path: Path) -> None:
    def inline(update_id: int, query: str) -> dict[str, Any]:
        return {"update_id": update_id, "inline_query": {
            "id": f"q{update_id}", "query": query, "offset": "",
            "from": {"id": 3, "is_bot": False, "first_name": "S", "language_code": "en"}}}

    request = run(shared_hash_service, tmp_path, lambda app: feed(
        app, inline(1, ""), inline(2, "🙂"), inline(3, "What is the capital of Australia?")))
    answers = request.named("answerInlineQuery")
    assert [a["inline_query_id"] for a in answers] == ["q1", "q2", "q3"]
    assert all(a["results"] == [] for a in answers)
    assert request.sent() == []


def test_state_file_defaults_to_the_index_folder(shared_hash_service, tmp_path: Path) -> None:
    settings = shared_hash_service.settings.with_overrides(telegram_token=TOKEN, health_port=0)
    app = build_application(settings, shared_hash_service, request=RecordingRequest())
    state = app.bot_data["core"].state
    try:
        assert state.path == settings.index_dir / "bot-state.sqlite3" and state.path.exists()
    finally:
        state.close()


def test_start_up_log_has_no_faiss_loader_lines() -> None:
    import subprocess
    import sys

    code = "from qa_bot.bot.logs import setup_logging; setup_logging(False)\nimport faiss"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "faiss" not in result.stderr


def test_commands_count_against_the_rate_limit(shared_hash_service, tmp_path: Path) -> None:
    commands = [message(1, cmd, update_id=i, lang="en") for i, cmd in enumerate(["/sources"] * 6 + ["/help"] * 3
                                                                                  + ["/start"] * 3, start=1)]
    request = run(shared_hash_service, tmp_path, lambda app: feed(app, *commands), rate_limit=3)
    texts = [p["text"] for p in request.sent()]
    assert len(texts) == 4  # three listings, one friendly warning, then silence
    assert sum("3 questions per minute" in t for t in texts) == 1


def test_stats_in_a_group_stay_out_of_the_group(shared_hash_service, tmp_path: Path) -> None:
    request = run(shared_hash_service, tmp_path, lambda app: feed(
        app, message(7, "/stats", chat_id=-100, chat_type="supergroup", update_id=1, lang="en")),
        admin_ids=frozenset({7}))
    sent = request.sent()
    assert all("passages" not in p["text"] and "<pre>" not in p["text"] for p in sent if p["chat_id"] == -100)
    assert any("private chat" in p["text"] for p in sent)


def test_sources_are_paged_with_buttons(tmp_path: Path) -> None:
    from conftest import make_service

    articles = tmp_path / "many"
    articles.mkdir()
    for i in range(40):
        (articles / f"a{i:02d}.txt").write_text(f"Artikel {i} berichtet über den Hafen Nummer {i}.\n", "utf-8")
    service = make_service(articles, tmp_path / "index")

    async def scenario(app) -> None:
        await feed(app, message(1, "/sources", update_id=1, lang="en"))
        await feed(app, {"update_id": 2, "callback_query": {
            "id": "c1", "chat_instance": "i", "data": "s:2",
            "message": {"message_id": 1001, "date": int(time.time()), "text": "x", "from": BOT,
                        "chat": {"id": 1, "type": "private"}},
            "from": {"id": 1, "is_bot": False, "first_name": "U", "language_code": "en"}}})

    request = run(service, tmp_path, scenario)
    [first] = request.sent()
    assert first["text"].startswith("<b>40 article(s), 40 passages</b> · page 1/3\n1. ")
    assert [b["callback_data"] for b in first["reply_markup"]["inline_keyboard"][0]] == ["s:2"]
    [edit] = request.named("editMessageText")
    assert edit["message_id"] == 1001 and "page 2/3\n16. " in edit["text"]
    assert [b["text"] for b in edit["reply_markup"]["inline_keyboard"][0]] == ["◂", "▸"]
