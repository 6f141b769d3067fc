"""Fault tolerance: Telegram answers 500, 429 with retry_after, and drops connections for a while; every
question still gets exactly one answer and the bot keeps running. Also hot reload and the health probe."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import aiohttp
from conftest import SEEDS, make_service
from fake_bot_api import bot_against_fake_api, free_port, visible_text

from qa_bot.service import QAService

QUESTIONS = ["Wie heißt der nationale Sicherheitsberater der USA?",
             "In welche russische Region wurden die nordkoreanischen Truppen verlegt?",
             "What did Joe Biden say about Ukraine?", "Wann fährt der nächste Zug nach Hamburg?"]


def test_every_question_gets_exactly_one_answer_through_faults(shared_hash_service, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bot_against_fake_api(shared_hash_service, tmp_path) as bot:
            api = bot.api
            api.fail("500", 3, {"sendMessage"})
            api.fail("429", 2, {"sendMessage"}, retry_after=1)
            api.fail("drop", 3, {"sendMessage", "getUpdates"})
            api.fail("500", 2, {"getUpdates"})
            api.fail("429", 1, {"getUpdates"}, retry_after=1)
            users = range(100, 108)
            for n, uid in enumerate(users):
                api.message(uid, QUESTIONS[n % len(QUESTIONS)], language_code="de" if n % 2 else "en")
            for uid in users:
                await api.wait_until(lambda uid=uid: api.sent_to(uid), 45)
            await api.wait_until(lambda: not api.faults, 30)  # the getUpdates faults come with the next polls
            assert api.faults_served == {"500": 5, "429": 3, "400": 0, "drop": 3, "badjson": 0, "late": 0}
            # After the storm: one more round on a healthy server.
            for uid in users:
                api.message(uid, QUESTIONS[0])
            for uid in users:
                await api.wait_until(lambda uid=uid: len(api.sent_to(uid)) >= 2, 30)
            api.message(999, QUESTIONS[1])  # a last question: once answered, nothing is in flight any more
            await api.wait_until(lambda: api.sent_to(999), 30)
            assert [len(api.sent_to(uid)) for uid in users] == [2] * len(users)
            assert "Jake Sullivan" in visible_text(api.sent_to(users[0])[1].text)
            assert api.rejected == []
            assert not bot.task.done()

    asyncio.run(asyncio.wait_for(scenario(), 120))


def test_hot_reload_serves_a_new_index_without_failed_answers(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    shutil.copytree(SEEDS, articles)
    service = make_service(articles, tmp_path / "index", min_score=0.15)
    question = "Wann fährt der nächste Zug nach Hamburg?"

    async def scenario() -> None:
        async with bot_against_fake_api(service, tmp_path, reload_interval=0.1) as bot:
            api = bot.api
            api.message(40, question)
            [before] = await api.wait_until(lambda: api.sent_to(40))
            assert "nichts Passendes" in before.text
            # `qa-bot index` in another process: a second service writes a new generation on disk.
            (articles / "fahrplan.txt").write_text(
                "Der nächste Zug nach Hamburg fährt um 14:32 Uhr von Gleis 7 ab, meldet die Bahn.\n\n"
                "Wer den Zug nach Hamburg verpasst, wartet eine Stunde auf den nächsten.\n", encoding="utf-8")
            writer = QAService(service.settings)
            await asyncio.to_thread(writer.index)
            generation = writer.info().generation
            asked = 1
            while service.info().generation != generation:  # keep asking while the reload happens
                api.message(40, "Wie heißt der nationale Sicherheitsberater der USA?")
                asked += 1
                await api.wait_until(lambda n=asked: len(api.sent_to(40)) >= n, 20)
            api.message(40, question)
            asked += 1
            await api.wait_until(lambda: len(api.sent_to(40)) >= asked, 20)
            replies = api.sent_to(40)
            assert "Gleis 7" in visible_text(replies[-1].text)
            assert all("Jake Sullivan" in visible_text(r.text) for r in replies[1:-1])
            assert bot.app.bot_data["core"].counts["errors"] == 0

    asyncio.run(asyncio.wait_for(scenario(), 120))


def test_health_endpoint_reports_index_and_uptime(shared_hash_service, tmp_path: Path) -> None:
    unused_port = free_port()

    async def scenario() -> None:
        async with bot_against_fake_api(shared_hash_service, tmp_path, health_port=unused_port) as bot:
            bot.api.message(50, QUESTIONS[0])
            await bot.api.wait_until(lambda: bot.api.sent_to(50))
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{unused_port}/health") as response:
                    assert response.status == 200
                    body = await response.json()
        assert body["status"] == "ok" and body["telegram"] == "running"
        assert body["index"]["passages"] == shared_hash_service.info().passages
        assert body["index"]["built_at"] and body["uptime_s"] >= 0
        assert body["questions"] == 1 and body["answered"] == 1
        assert json.dumps(body)  # plain JSON, nothing secret in it
        assert "token" not in json.dumps(body).lower()

    asyncio.run(asyncio.wait_for(scenario(), 60))
