"""Scale-out end to end: three `qa-bot serve` processes in webhook mode share one PostgreSQL database,
behind a fake Telegram that delivers updates round-robin and again to the next replica when one does not
answer 200. Real processes, real PostgreSQL (pgserver), real python-telegram-bot; 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from html import unescape

from conftest import ROOT
from fake_bot_api import TOKEN, visible_text

from qa_bot.bot.replicas import RoundRobinWebhooks, start_replicas, stop_replicas, wait_listening
from qa_bot.devtools.fake_api import FakeBotAPI
from qa_bot.service import QAService

SECRET = "replica-webhook-secret-42"
DB_PASSWORD = "db-pass-4711-secret"
ADMIN = 4242
QUESTIONS = ["Wer ist Jake Sullivan?", "In welche russische Region wurden die nordkoreanischen Truppen verlegt?",
             "Was sagte Joe Biden über die Ukraine?", "Welche Sanktionen gegen Russland wurden geplant?"]


def with_password(url: str) -> str:
    """The test server trusts local connections; a password in the URL lets the logs be checked for it."""
    return url.replace("postgres:@", f"postgres:{DB_PASSWORD}@", 1)


def replica_env(settings, api: FakeBotAPI, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_BOT_", "TELEGRAM_"))}
    env.update(PYTHONPATH=str(ROOT), TELEGRAM_BOT_TOKEN=TOKEN, QA_BOT_TELEGRAM_BASE_URL=api.base_url,
               QA_BOT_BACKEND="hash", QA_BOT_DATABASE_URL=with_password(settings.database_url),
               QA_BOT_DATABASE_SCHEMA=settings.database_schema, QA_BOT_INDEX_DIR=str(settings.index_dir),
               QA_BOT_ARTICLES_DIR=str(settings.articles_dir), QA_BOT_TOP_K="1", QA_BOT_MIN_SCORE="0.1",
               QA_BOT_RATE_LIMIT="4", QA_BOT_RELOAD_INTERVAL="0.5", QA_BOT_ADMIN_IDS=str(ADMIN),
               QA_BOT_HEALTH_PORT="0", **extra)
    return env


def replies_to(api: FakeBotAPI, message: dict) -> list:
    """What the bot sent to the chat of `message` (each of these chats asks one question at a time)."""
    return api.sent_to(message["chat"]["id"])


def test_three_replicas_share_buttons_limits_stats_and_survive_kill_9(pg_settings, articles, tmp_path):
    QAService(pg_settings).index()

    async def scenario() -> None:
        api = FakeBotAPI(TOKEN)
        await api.start()
        replicas = start_replicas(3, replica_env(pg_settings, api), tmp_path, SECRET)
        delivery = RoundRobinWebhooks(api, [r.url for r in replicas], SECRET, retry_delay=0.05)
        try:
            await wait_listening(replicas)
            await api.wait_until(lambda: api.methods().count("setWebhook") == 3, 60)
            assert "getUpdates" not in api.methods()
            await delivery.start()
            asked = 0

            # Questions from 12 users, spread over the three replicas: each answered exactly once.
            sent = [api.message(100 + i, QUESTIONS[i % 4]) for i in range(12)]
            asked += 12
            await api.wait_until(lambda: all(replies_to(api, m) for m in sent) and all_acked(delivery, sent), 60)
            assert {delivery.deliveries[u["update_id"]].acked_by for u in api_updates(delivery, sent)} == {0, 1, 2}
            assert all(len(replies_to(api, m)) == 1 for m in sent)

            # "More" on another replica than the one that answered.
            def more_data(reply) -> str | None:  # the "More" button's data (replies also carry 👍 / 👎)
                rows = (reply.reply_markup or {}).get("inline_keyboard", [])
                return next((b["callback_data"] for row in rows for b in row
                             if b["callback_data"].startswith("m:")), None)

            asker = next(m for m in sent if more_data(replies_to(api, m)[0]))
            user = asker["from"]["id"]
            first = replies_to(api, asker)[0]
            answered_by = delivery.deliveries[update_of(delivery, asker)].acked_by
            data = more_data(first)
            query_id = api.press(user, first, data)
            await api.wait_until(lambda: len(api.sent_to(user)) == 2, 30)
            [press] = [d for d in delivery.deliveries.values() if d.update.get("callback_query", {}).get("id")
                       == query_id]
            assert press.acked_by != answered_by
            assert "<blockquote>" in api.sent_to(user)[1].text
            assert not [a for a in api.callback_answers if a.get("show_alert")]

            # The rate limit (4 a minute) holds across replicas: 6 questions, 4 answers and one warning.
            burst = [api.message(200, QUESTIONS[i % 4]) for i in range(6)]
            asked += 4
            await api.wait_until(lambda: all_acked(delivery, burst), 30)
            assert {delivery.deliveries[u["update_id"]].acked_by for u in api_updates(delivery, burst)} == {0, 1, 2}
            texts = [visible_text(s.text) for s in api.sent_to(200)]
            assert sum("Fragen pro Minute" in x for x in texts) == 1 and len(texts) == 5

            # An index update while they serve: every replica answers from the new corpus at once.
            (articles / "eiffel.txt").write_text("Der Eiffelturm in Paris ist 330 Meter hoch.", "utf-8")
            await asyncio.to_thread(QAService(pg_settings).index)
            eiffel = [api.message(300 + i, "Wie hoch ist der Eiffelturm?") for i in range(3)]
            asked += 3
            await api.wait_until(lambda: all(replies_to(api, m) for m in eiffel) and all_acked(delivery, eiffel), 30)
            assert {delivery.deliveries[u["update_id"]].acked_by for u in api_updates(delivery, eiffel)} == {0, 1, 2}
            assert all("330 Meter" in visible_text(replies_to(api, m)[0].text) for m in eiffel)

            # /stats on any replica counts the questions of all of them.
            await asyncio.sleep(1.5)  # every replica publishes its counters each reload interval (0.5 s)
            api.command(ADMIN, "/stats", language_code="en")
            [stats] = await api.wait_until(lambda: api.sent_to(ADMIN), 30)
            body = json.loads(unescape(stats.text.removeprefix("<pre>").removesuffix("</pre>")))
            assert body["all_replicas"]["replicas_alive"] == 3
            assert body["all_replicas"]["questions"] == asked + 1  # the "More" page counts as one

            # kill -9 of one replica under load: every question is answered exactly once.
            load = [api.message(400 + i, QUESTIONS[i % 4]) for i in range(30)]
            victim = replicas[1]
            await api.wait_until(lambda: delivery.in_flight(1), 30)
            await kill_outside_the_reply_window(victim, delivery, api)
            await api.wait_until(lambda: all(replies_to(api, m) for m in load), 90)
            await asyncio.sleep(1.0)  # late duplicates would arrive now
            assert [len(replies_to(api, m)) for m in load] == [1] * 30
            retried = [d for d in api_updates(delivery, load) if len(delivery.deliveries[d["update_id"]].attempts) > 1]
            assert retried, "the kill left no update to deliver again"
            assert api.rejected == []
        finally:
            await delivery.stop()
            stop_replicas(replicas)
            await api.stop()
        logs = "".join(r.log.read_text() for r in replicas)
        assert TOKEN not in logs and TOKEN.split(":")[1] not in logs and DB_PASSWORD not in logs
        assert "Traceback" not in logs, logs[-3000:]

    asyncio.run(asyncio.wait_for(scenario(), 300))


def api_updates(delivery: RoundRobinWebhooks, messages: list[dict]) -> list[dict]:
    ids = {m["message_id"] for m in messages}
    return [d.update for d in delivery.deliveries.values() if d.update.get("message", {}).get("message_id") in ids]


def all_acked(delivery: RoundRobinWebhooks, messages: list[dict]) -> bool:
    updates = api_updates(delivery, messages)
    return len(updates) == len(messages) and all(delivery.deliveries[u["update_id"]].acked_by is not None
                                                 for u in updates)


def update_of(delivery: RoundRobinWebhooks, message: dict) -> int:
    return api_updates(delivery, [message])[0]["update_id"]


async def kill_outside_the_reply_window(replica, delivery: RoundRobinWebhooks, api: FakeBotAPI) -> None:
    """kill -9 while the replica has updates in flight, but not in the one window no webhook server can
    close: its reply already accepted by Telegram and the update not yet marked done (then the next
    delivery answers again). The replica is frozen (SIGSTOP) to look, and let go for a moment if needed."""
    for _ in range(200):
        replica.kill(signal.SIGSTOP)
        await asyncio.sleep(0.2)  # requests it had already written reach the fake Telegram
        in_window = [d for d in delivery.in_flight(replica.index)
                     if "message" in d.update and replies_to(api, d.update["message"])]
        if not in_window and delivery.in_flight(replica.index):
            replica.kill(signal.SIGKILL)
            replica.process.wait()
            return
        replica.kill(signal.SIGCONT)
        await asyncio.sleep(0.01)
    raise AssertionError("never found a moment to kill the replica")


def test_long_polling_refuses_a_second_poller(pg_settings, tmp_path):
    QAService(pg_settings).index()

    async def scenario() -> None:
        api = FakeBotAPI(TOKEN)
        await api.start()
        env = replica_env(pg_settings, api)
        first = subprocess.Popen([sys.executable, "-m", "qa_bot.cli", "serve"], env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            await api.wait_until(lambda: "getUpdates" in api.methods(), 60)
            second = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "qa_bot.cli", "serve"], env=env,
                                             capture_output=True, text=True, timeout=60)
            assert second.returncode == 1
            assert second.stderr.strip().splitlines()[-1] == (
                "Error: Another qa-bot serve is already long-polling this bot (Telegram allows one); stop it, or "
                "run several replicas in webhook mode (QA_BOT_WEBHOOK_URL).")
            assert first.poll() is None
        finally:
            first.send_signal(signal.SIGTERM)
            first.wait(30)
            await api.stop()

    asyncio.run(asyncio.wait_for(scenario(), 120))



def test_loadtest_against_replicas(pg_settings, tmp_path):
    """`qa-bot loadtest --replicas 2`: every question answered, the updates spread over both replicas."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_BOT_", "TELEGRAM_"))}
    env.update(PYTHONPATH=str(ROOT), QA_BOT_BACKEND="hash", QA_BOT_DATABASE_URL=pg_settings.database_url,
               QA_BOT_DATABASE_SCHEMA=pg_settings.database_schema, QA_BOT_ARTICLES_DIR=str(pg_settings.articles_dir))
    result = subprocess.run([sys.executable, "-m", "qa_bot.cli", "loadtest", "--replicas", "2", "-n", "4", "-m", "2",
                             "--json"], env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert (report["asked"], report["replied"], report["timed_out"], report["html_rejected"]) == (8, 8, 0, 0)
    assert len(report["per_replica"]) == 2 and all(n > 0 for n in report["per_replica"])
    assert sum(report["per_replica"]) == 8 and report["p50_ms"] > 0


def test_update_claims_per_bot_busy_and_taken_over_from_a_dead_replica(pg_settings):
    from qa_bot.bot.shared import SharedState

    def state(token: str) -> SharedState:
        return SharedState(pg_settings.with_overrides(telegram_token=token))

    a, b, a2 = state("111:aaaaaaaaaa"), state("222:bbbbbbbbbb"), state("111:aaaaaaaaaa")
    try:
        assert a.claim(7) == "mine"
        assert a2.claim(7) == "busy"  # a live replica of the same bot is answering it
        assert b.claim(7) == "mine"  # another bot's update 7 is another update
        a.finished(7)
        assert a2.claim(7) == "done"
        assert a.claim(8) == "mine"
        a.close()  # the replica dies: PostgreSQL drops its session and its lock (a moment later)
        deadline = time.monotonic() + 10
        while a2.totals()["replicas_alive"] != 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert a2.totals()["replicas_alive"] == 2
        assert a2.claim(8) == "mine"
    finally:
        for s in (a, b, a2):
            s.close()
