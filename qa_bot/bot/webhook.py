"""Webhook server for replicas sharing a database: an update is acknowledged (HTTP 200) only once it has
been answered, so Telegram delivers it again (to any replica) when the one it chose died on the way; and
each update id is claimed in the database, so a delivery repeated after a slow or lost acknowledgement is
not answered twice.

python-telegram-bot's own webhook server acknowledges on receipt, before the answer exists, which
loses the question when the process dies in between: fine for one process, not for replicas behind a
load balancer that are restarted, scaled down or killed.

The one case left: a replica killed after Telegram accepted its reply and before it marked the update
done; the next delivery answers again (at least once, never lost).

A single process uses the same server with `LocalClaims` (recent update ids in memory): an update that
python-telegram-bot cannot parse is skipped once and acknowledged, where python-telegram-bot's own server
answered 400 (so Telegram sent it again and again) and logged its content at CRITICAL each time.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
from collections import OrderedDict
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

log = logging.getLogger("qa_bot.bot")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class LocalClaims:
    """Claims for one process: the last `keep` update ids in memory, so a delivery repeated after a lost
    acknowledgement is answered once."""

    def __init__(self, keep: int = 10_000) -> None:
        self._keep = keep
        self._seen: OrderedDict[int, str] = OrderedDict()
        self._lock = threading.Lock()

    def claim(self, update_id: int) -> str:
        """"new" (handle it), "busy" (being handled: ask Telegram to retry) or "done"."""
        with self._lock:
            seen = self._seen.get(update_id)
            if seen is not None:
                return seen
            self._seen[update_id] = "busy"
            while len(self._seen) > self._keep:
                self._seen.popitem(last=False)
            return "new"

    def finished(self, update_id: int) -> None:
        with self._lock:
            self._seen[update_id] = "done"


async def start_webhook_server(app: Application, state: Any, listen: str, port: int, path: str,
                               secret: str | None) -> web.AppRunner:
    """Serve POST `path` on listen:port; `state` is the shared state (claims). Returns the runner."""

    async def handle(request: web.Request) -> web.Response:
        if secret and not hmac.compare_digest(request.headers.get(SECRET_HEADER, ""), secret):
            return web.Response(status=403)
        try:
            data = await request.json()
            update_id = int(data["update_id"])
        except (ValueError, KeyError, TypeError):
            return web.Response(status=400)
        try:
            claim = await asyncio.to_thread(state.claim, update_id)
        except Exception as exc:  # noqa: BLE001 - no database, no claim: Telegram retries later
            log.warning("update %s not claimed (%s); Telegram will deliver it again", update_id, type(exc).__name__)
            return web.Response(status=503)
        if claim == "done":
            return web.Response(status=200)
        if claim == "busy":
            return web.Response(status=503, headers={"Retry-After": "1"})
        try:
            update = Update.de_json(data, app.bot)
        except Exception as exc:  # noqa: BLE001 - an update python-telegram-bot cannot read: skip it once
            kinds = ",".join(sorted(k for k in data if k != "update_id")) if isinstance(data, dict) else "?"
            log.warning("skipped update %s (%s) that python-telegram-bot cannot read (%s)", update_id, kinds,
                        type(exc).__name__)
            core = app.bot_data.get("core")
            if core is not None:
                core.unparseable(update_id)
            update = None
        if update is not None:
            await app.process_update(update)  # the handlers, and the error handler if one fails
        try:
            await asyncio.to_thread(state.finished, update_id)
        except Exception as exc:  # noqa: BLE001
            log.warning("update %s answered but not marked done (%s)", update_id, type(exc).__name__)
        return web.Response(status=200)

    server = web.Application()
    server.router.add_post("/" + path.lstrip("/"), handle)
    runner = web.AppRunner(server, access_log=None, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, listen, port).start()
    return runner
