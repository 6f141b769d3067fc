"""Webhook mode: Telegram POSTs updates to the bot's own HTTP server, authenticated by a secret token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from fake_bot_api import bot_against_fake_api, free_port, visible_text

SECRET = "webhook-secret-0123456789"


def test_webhook_mode_answers_posted_updates_and_checks_the_secret(shared_hash_service, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram-hook"

    def update(update_id: int, text: str) -> dict:
        return {"update_id": update_id, "message": {
            "message_id": update_id, "date": 1700000000, "text": text,
            "chat": {"id": 60, "type": "private", "first_name": "W"},
            "from": {"id": 60, "is_bot": False, "first_name": "W", "language_code": "de"}}}

    async def scenario() -> None:
        async with bot_against_fake_api(shared_hash_service, tmp_path, webhook_url=url, webhook_port=port,
                                        webhook_secret=SECRET) as bot:
            api = bot.api
            [(_, hook)] = [(m, p) for m, p in api.calls if m == "setWebhook"]
            assert hook["url"] == url and hook["secret_token"] == SECRET
            assert "getUpdates" not in api.methods()
            async with aiohttp.ClientSession() as session:
                headers = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
                async with session.post(url, json=update(1, "Jake Sullivan?"), headers=headers) as response:
                    assert response.status == 403
                headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                async with session.post(url, json=update(2, "Wie heißt der nationale Sicherheitsberater der USA?"),
                                        headers=headers) as response:
                    assert response.status == 200
            [reply] = await api.wait_until(lambda: api.sent_to(60))
            assert "Jake Sullivan" in visible_text(reply.text)

    asyncio.run(asyncio.wait_for(scenario(), 60))
