"""End to end: the real Application long-polls a local Bot API server over HTTP (127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from conftest import make_service
from fake_bot_api import TOKEN, TokenWatch, bot_against_fake_api, html_problem, visible_text

DE_QUESTION = "Wie heißt der nationale Sicherheitsberater der USA?"
KURSK_QUESTION = "In welche russische Region wurden die nordkoreanischen Truppen verlegt?"
EN_QUESTION = "What did Joe Biden say about Ukraine?"
UNANSWERABLE = "Wann fährt der nächste Zug nach Hamburg?"
MIN_SCORE = 0.15  # fixed, so abstention does not move with the calibrated default
BIDEN_DOC = "000_a9b13bc05b2b618c"
URL = "https://example.com/news?id=1&lang=de"


@pytest.fixture
def linked_articles(articles: Path) -> Path:
    """The seeds, one of them with a URL and a title full of HTML-special characters."""
    meta = {"url": URL, "title": "Biden & <Ukraine> *fett* _kursiv_", "outlet": "Reuters"}
    (articles / f"{BIDEN_DOC}.meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return articles


def assert_valid(api) -> None:
    assert api.rejected == []
    for sent in api.sent:
        assert html_problem(sent.text) is None, sent.text


def button_data(sent) -> str:
    return sent.reply_markup["inline_keyboard"][0][0]["callback_data"]


def run(coro) -> None:
    asyncio.run(asyncio.wait_for(coro, 120))


def test_private_group_inline_conversation(linked_articles: Path, tmp_path: Path) -> None:
    service = make_service(linked_articles, tmp_path / "index", min_score=MIN_SCORE)

    async def scenario() -> None:
        with TokenWatch() as logs:
            async with bot_against_fake_api(service, tmp_path) as bot:
                api = bot.api
                # Commands are registered with Telegram, in English and German.
                names = {c["command"] for cmds in api.commands.values() for c in cmds}
                assert {"start", "help", "sources"} <= names
                assert any(key.endswith("|de") for key in api.commands)

                # German question in a private chat: quote with bold sentence, source line, "more" button.
                api.message(1, DE_QUESTION, language_code="de")
                [reply] = await api.wait_until(lambda: api.sent_to(1))
                assert "Jake Sullivan" in visible_text(reply.text)
                assert re.search(r"<blockquote>[^<]*<b>[^<]*Jake Sullivan[^<]*</b>", reply.text)
                # The best passage leads, open; the two others follow collapsed.
                assert "Absatz 4" in reply.text and reply.text.startswith("<blockquote>")
                assert reply.text.count("<blockquote>") == 1 and reply.text.count("<blockquote expandable>") == 2
                data = button_data(reply)
                assert len(data.encode()) <= 64 and DE_QUESTION not in data
                assert reply.reply_markup["inline_keyboard"][0][0]["text"] == "Mehr ▸"

                # "More": the callback is answered, the next passages arrive, the old button goes away.
                api.press(1, reply, data)
                more = await api.wait_until(lambda: api.sent_to(1)[1:])
                assert api.callback_answers and not api.callback_answers[-1].get("show_alert")
                assert "<blockquote" in more[0].text and more[0].text != reply.text
                await api.wait_until(lambda: len(reply.reply_markup["inline_keyboard"]) == 1)
                assert [b["text"] for b in reply.reply_markup["inline_keyboard"][0]] == ["👍", "👎"]

                # English question: English source line; the linked article shows its escaped title and URL.
                api.message(2, EN_QUESTION, language_code="en")
                [en] = await api.wait_until(lambda: api.sent_to(2))
                assert "Joe Biden" in visible_text(en.text) and "paragraph" in en.text
                assert '<a href="https://example.com/news?id=1&amp;lang=de">' in en.text
                assert "Biden &amp; &lt;Ukraine&gt; *fett* _kursiv_</a> (Reuters)" in en.text

                # Unanswerable, in both languages: a short reply with a hint, no quote.
                api.message(3, UNANSWERABLE, language_code="de")
                api.message(4, "What is the capital of Australia?", language_code="en")
                [de_none] = await api.wait_until(lambda: api.sent_to(3))
                [en_none] = await api.wait_until(lambda: api.sent_to(4))
                assert "nichts Passendes" in de_none.text and "<blockquote>" not in de_none.text
                assert "found nothing" in en_none.text and "/sources" in en_none.text
                assert [b["text"] for row in de_none.reply_markup["inline_keyboard"] for b in row] == ["👍", "👎"]

                # Group: quiet unless mentioned or replied to; answers as a reply to the question.
                group = -100123
                api.message(5, KURSK_QUESTION, chat_id=group, chat_type="supergroup")
                question = api.mention(5, group, KURSK_QUESTION)
                [g1] = await api.wait_until(lambda: api.sent_to(group))
                assert g1.reply_to == question["message_id"] and "Region Kursk" in visible_text(g1.text)
                api.message(6, DE_QUESTION, chat_id=group, chat_type="supergroup", reply_to=g1)
                g2 = await api.wait_until(lambda: api.sent_to(group)[1:])
                assert "Jake Sullivan" in visible_text(g2[0].text)
                api.command(6, "/sources@qa_test_bot", chat_id=group, chat_type="supergroup")
                g3 = await api.wait_until(lambda: api.sent_to(group)[2:])
                assert "2 Artikel" in g3[0].text
                assert len(api.sent_to(group)) == 3  # the plain group message got no answer

                # Inline mode: the top passages as articles to send.
                api.inline_query(7, KURSK_QUESTION)
                [inline] = await api.wait_until(lambda: api.inline_answers)
                texts = [r["input_message_content"]["message_text"] for r in inline["results"]]
                assert texts and "Region Kursk" in visible_text(texts[0]) and "<blockquote>" in texts[0]
                assert all(r["type"] == "article" and len(r["id"]) <= 64 for r in inline["results"])

                # /start and /help in private chats.
                api.command(8, "/start", language_code="en")
                api.command(9, "/help", language_code="de")
                [start] = await api.wait_until(lambda: api.sent_to(8))
                [help_] = await api.wait_until(lambda: api.sent_to(9))
                assert "2 news article(s)" in start.text and "@qa_test_bot" in help_.text
                assert_valid(api)
        assert logs.lines and any("getUpdates" in line for line in logs.lines)
        assert not [line for line in logs.lines if TOKEN in line or TOKEN.split(":")[1] in line]
        assert any("question chat_type=private" in line and "answered=yes" in line for line in logs.lines)

    run(scenario())


def test_odd_input_gets_a_sensible_reply_or_silence(shared_hash_service, tmp_path: Path) -> None:
    file = {"file_id": "f1", "file_unique_id": "u1"}

    async def scenario() -> None:
        async with bot_against_fake_api(shared_hash_service, tmp_path) as bot:
            api = bot.api
            api.message(10, None, sticker={**file, "type": "regular", "width": 512, "height": 512,
                                           "is_animated": False, "is_video": False})
            api.message(11, None, photo=[{**file, "width": 90, "height": 90}], caption="<b>?")
            api.message(12, None, voice={**file, "duration": 3}, language_code="en")
            api.message(13, None, document={**file, "file_name": "a.pdf"})
            api.message(14, "Jake Sullivan " * 285)  # 3990 characters
            api.message(15, "😀🎉👍")
            api.message(16, "<b>Biden</b> & *Ukraine* _x_ [link](http://x) `code` </blockquote>")
            api.command(17, "/nosuchcommand")
            api.message(18, DE_QUESTION, edited=True)
            api.message(19, "   ")
            for chat in (10, 11, 12, 13, 14, 15, 16, 17, 19):
                await api.wait_until(lambda chat=chat: api.sent_to(chat))
            assert "nur Textfragen" in api.sent_to(10)[0].text
            assert "only answer text" in api.sent_to(12)[0].text
            assert "Nur die Administratoren" in api.sent_to(13)[0].text  # a document from a non-admin
            assert "Jake Sullivan" in visible_text(api.sent_to(14)[0].text)
            assert "in Worten" in api.sent_to(15)[0].text and "in Worten" in api.sent_to(19)[0].text
            assert "So fragst du" in api.sent_to(17)[0].text
            # A forged and a stale button: a polite alert, never a crash.
            victim = api.sent_to(16)[0]
            api.press(20, victim, "m:AAAAAAAAAAAA:3")
            api.press(20, victim, "'; DROP TABLE questions; --")
            await api.wait_until(lambda: len(api.callback_answers) == 2)
            assert all(a.get("show_alert") and "abgelaufen" in a["text"] for a in api.callback_answers)
            api.message(21, "ping")  # everything before it has been handled once this is answered
            await api.wait_until(lambda: api.sent_to(21))
            assert api.sent_to(18) == []  # edited messages are ignored
            assert all(len(api.sent_to(chat)) == 1 for chat in (10, 11, 12, 13, 14, 15, 16, 17, 19))
            assert_valid(api)
            assert bot.app.bot_data["core"].counts["errors"] == 0

    run(scenario())


def test_more_button_survives_a_restart(hash_service, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bot_against_fake_api(hash_service, tmp_path) as bot:
            bot.api.message(30, KURSK_QUESTION)
            [first] = await bot.api.wait_until(lambda: bot.api.sent_to(30))
            data = button_data(first)
        async with bot_against_fake_api(hash_service, tmp_path) as bot:  # same state file, new process state
            bot.api.message(30, "hallo")  # make the chat known to the new server
            await bot.api.wait_until(lambda: bot.api.sent_to(30))
            old = bot.api.sent_to(30)[0]
            bot.api.press(30, old, data)
            more = await bot.api.wait_until(lambda: bot.api.sent_to(30)[1:])
            assert "<blockquote>" in more[0].text
            assert not bot.api.callback_answers[-1].get("show_alert")

    run(scenario())
