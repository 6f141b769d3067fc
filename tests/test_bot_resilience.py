"""The bot's failure modes: what Telegram (or a user) can throw at it without losing, duplicating or
wedging anything. Each test reproduces one failure first seen by hand (issue 11)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import aiohttp
from conftest import make_service
from fake_bot_api import bot_against_fake_api, free_port, visible_text

QUESTION = "Wie heißt der nationale Sicherheitsberater der USA?"


def run(coro) -> None:
    asyncio.run(asyncio.wait_for(coro, 120))


async def until(probe, done, timeout: float = 20.0):
    """Call the coroutine function `probe` until `done(result)`; the last result."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await probe()
        if done(result) or loop.time() > deadline:
            return result
        await asyncio.sleep(0.05)


def test_unreadable_update_is_skipped_once_and_polling_goes_on(shared_hash_service, tmp_path: Path, caplog) -> None:
    async def scenario() -> None:
        async with bot_against_fake_api(shared_hash_service, tmp_path) as bot:
            api = bot.api
            api.message(1, "Eine Frage vorher, geheimer Text?")
            # A poll answer without option_persistent_ids: python-telegram-bot 22.8 cannot parse it.
            api._push("poll_answer", {"poll_id": "p1", "option_ids": [0],
                                      "user": {"id": 2, "is_bot": False, "first_name": "U"}})
            api.message(3, QUESTION)
            [reply] = await api.wait_until(lambda: api.sent_to(3), 20)
            assert "Jake Sullivan" in visible_text(reply.text)
            api.message(3, QUESTION)  # and the next batch too
            await api.wait_until(lambda: len(api.sent_to(3)) == 2, 20)
            assert bot.app.bot_data["core"].counts["skipped_updates"] == 1
            polls = [p for m, p in api.calls if m == "getUpdates"]
            assert len(polls) < 20  # the batch was not fetched again and again

    with caplog.at_level(logging.INFO):  # the default level (QA_BOT_VERBOSE=1 logs every request's body)
        run(scenario())
    skipped = [r for r in caplog.records if "cannot read" in r.getMessage()]
    assert len(skipped) == 1 and "poll_answer" in skipped[0].getMessage()
    assert "geheimer Text" not in caplog.text and not any(r.levelno >= logging.CRITICAL for r in caplog.records)


def test_twelve_consecutive_500s_lose_no_answer(shared_hash_service, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bot_against_fake_api(shared_hash_service, tmp_path) as bot:
            api = bot.api
            api.fail("500", 12, {"sendMessage"})
            api.message(1, QUESTION)
            [reply] = await api.wait_until(lambda: api.sent_to(1), 30)
            assert "Jake Sullivan" in visible_text(reply.text) and api.faults_served["500"] == 12
            await asyncio.sleep(0.5)
            assert len(api.sent_to(1)) == 1

    run(scenario())


def test_garbled_answer_to_a_send_is_neither_an_error_nor_resent(shared_hash_service, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bot_against_fake_api(shared_hash_service, tmp_path) as bot:
            api = bot.api
            api.fail("badjson", 1, {"sendMessage"})
            api.message(1, QUESTION)
            await api.wait_until(lambda: api.faults_served["badjson"] == 1, 20)
            api.message(2, QUESTION)  # once this is answered, the first one is long settled
            await api.wait_until(lambda: api.sent_to(2), 20)
            await asyncio.sleep(0.3)
            [reply] = api.sent_to(1)
            assert "Jake Sullivan" in visible_text(reply.text)  # delivered once, no "something went wrong"
            assert bot.app.bot_data["core"].counts["errors"] == 0

    run(scenario())


def test_send_that_timed_out_after_telegram_took_it_is_not_sent_twice(shared_hash_service, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bot_against_fake_api(shared_hash_service, tmp_path, build={"read_timeout": 0.5}) as bot:
            api = bot.api
            api.fail("late", 1, {"sendMessage"}, delay=1.5)
            api.message(1, QUESTION)
            await api.wait_until(lambda: api.faults_served["late"] == 1, 20)
            await asyncio.sleep(2.5)  # past the read timeout and any retry
            api.message(2, QUESTION)
            await api.wait_until(lambda: api.sent_to(2), 20)
            assert len(api.sent_to(1)) == 1
            assert bot.app.bot_data["core"].counts["errors"] == 0

    run(scenario())


def test_three_quick_presses_of_more_send_the_next_page_once(shared_hash_service, tmp_path: Path) -> None:
    async def scenario() -> None:
        async with bot_against_fake_api(shared_hash_service, tmp_path) as bot:
            api = bot.api
            api.message(1, QUESTION)
            [first] = await api.wait_until(lambda: api.sent_to(1), 20)
            data = first.reply_markup["inline_keyboard"][0][0]["callback_data"]
            for _ in range(3):
                api.press(1, first, data)
            await api.wait_until(lambda: len(api.callback_answers) == 3, 20)  # all three presses handled
            await api.wait_until(lambda: any(s.text != first.text for s in api.sent_to(1)), 20)  # the page
            api.message(1, QUESTION)  # a later question: whatever the presses sent is sent by its answer
            await api.wait_until(lambda: sum(s.text == first.text for s in api.sent_to(1)) == 2, 20)
            await asyncio.sleep(0.5)
            texts = [s.text for s in api.sent_to(1)]
            assert len(texts) == 3, texts  # the answer, ONE next page, the later answer
            assert sum(text == first.text for text in texts) == 2

    run(scenario())


def test_webhook_without_a_secret_refuses_forged_updates(shared_hash_service, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    forged = {"update_id": 1, "message": {"message_id": 1, "date": 1700000000, "text": QUESTION,
                                          "chat": {"id": 60, "type": "private", "first_name": "W"},
                                          "from": {"id": 60, "is_bot": False, "first_name": "W"}}}

    async def scenario() -> None:
        async with bot_against_fake_api(shared_hash_service, tmp_path, webhook_url=url, webhook_port=port) as bot:
            [(_, hook)] = [(m, p) for m, p in bot.api.calls if m == "setWebhook"]
            secret = hook.get("secret_token")
            assert secret and len(secret) >= 32  # generated for this run and given to Telegram
            async with aiohttp.ClientSession() as session:
                async with session.post(url, json=forged) as response:
                    assert response.status == 403
                headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
                async with session.post(url, json=forged, headers=headers) as response:
                    assert response.status == 200
            await bot.api.wait_until(lambda: bot.api.sent_to(60), 20)

    run(scenario())


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def test_failing_reloads_make_health_degraded_and_are_logged_once(tmp_path: Path, articles: Path, caplog) -> None:
    service = make_service(articles, tmp_path / "index")
    port = free_port()

    async def health() -> tuple[int, dict]:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/health") as response:
                return response.status, await response.json()

    async def scenario() -> None:
        async with bot_against_fake_api(service, tmp_path, health_port=port, reload_interval=0.05):
            assert (await health())[0] == 200
            manifest = tmp_path / "index" / "manifest.json"
            good = manifest.read_text()
            data = json.loads(good)
            data["generation"] = "new-but-broken"
            data["segments"][0]["name"] = "missing"  # its files are not there
            write_atomically(manifest, json.dumps(data))  # a reload never reads half a manifest
            status, body = await until(lambda: health(), lambda r: r[0] == 503)
            assert body["status"] == "degraded" and "passages-missing.sqlite" in body["reload_error"]
            await asyncio.sleep(0.5)  # about ten more failing reloads
            write_atomically(manifest, good)  # repaired (as `qa-bot index` would)
            status, body = await until(lambda: health(), lambda r: r[0] == 200)
            assert body["status"] == "ok" and "reload_error" not in body

    with caplog.at_level(logging.WARNING, logger="qa_bot.bot"):
        run(scenario())
    failures = [r for r in caplog.records if "hot reload failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is None


def test_webhook_update_that_cannot_be_read_is_skipped_once(shared_hash_service, tmp_path: Path, caplog) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    secret = "webhook-secret-0123456789"
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    poll_answer = {"update_id": 7, "poll_answer": {"poll_id": "p1", "option_ids": [0],
                                                   "user": {"id": 2, "is_bot": False, "first_name": "geheim"}}}
    question = {"update_id": 8, "message": {"message_id": 8, "date": 1700000000, "text": QUESTION,
                                            "chat": {"id": 61, "type": "private", "first_name": "W"},
                                            "from": {"id": 61, "is_bot": False, "first_name": "W"}}}

    async def scenario() -> None:
        async with bot_against_fake_api(shared_hash_service, tmp_path, webhook_url=url, webhook_port=port,
                                        webhook_secret=secret) as bot:
            async with aiohttp.ClientSession() as session:
                async with session.post(url, json=poll_answer, headers=headers) as response:
                    assert response.status == 200  # taken (and skipped): Telegram must not send it again
                async with session.post(url, json=question, headers=headers) as response:
                    assert response.status == 200
            await bot.api.wait_until(lambda: bot.api.sent_to(61), 20)
            assert bot.app.bot_data["core"].counts["skipped_updates"] == 1

    with caplog.at_level(logging.INFO):
        run(scenario())
    assert len([r for r in caplog.records if "cannot read" in r.getMessage()]) == 1
    assert "geheim" not in caplog.text and not any(r.levelno >= logging.CRITICAL for r in caplog.records)


def test_failing_searches_make_health_degraded_until_one_succeeds(hash_service, tmp_path: Path, caplog,
                                                                  monkeypatch) -> None:
    from qa_bot.errors import IndexCorruptError

    port = free_port()
    real_search = hash_service.search

    def broken(*args, **kwargs):
        raise IndexCorruptError("passages-x.sqlite cannot be read (database disk image is malformed)")

    async def health() -> tuple[int, dict]:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/health") as response:
                return response.status, await response.json()

    async def scenario() -> None:
        async with bot_against_fake_api(hash_service, tmp_path, health_port=port) as bot:
            api = bot.api
            monkeypatch.setattr(hash_service, "search", broken)
            for n in range(3):
                api.message(1, QUESTION)
                await api.wait_until(lambda n=n: len(api.sent_to(1)) > n, 20)
            status, body = await health()
            assert status == 503 and "malformed" in body["search_error"] and body["errors"] == 3
            monkeypatch.setattr(hash_service, "search", real_search)
            api.message(1, QUESTION)
            await api.wait_until(lambda: len(api.sent_to(1)) > 3, 20)
            assert "Jake Sullivan" in visible_text(api.sent_to(1)[-1].text)
            status, body = await health()
            assert status == 200 and "search_error" not in body

    with caplog.at_level(logging.WARNING, logger="qa_bot.bot"):
        run(scenario())
    assert len([r for r in caplog.records if "search failed" in r.getMessage()]) == 1
