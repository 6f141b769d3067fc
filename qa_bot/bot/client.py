"""The Bot API client: python-telegram-bot's `ExtBot` and `HTTPXRequest`, hardened where they wedge.

- An update python-telegram-bot cannot parse (a new Bot API field it does not know yet, a malformed
  one) made `getUpdates` fail for the whole batch, so the same batch was fetched forever and nothing
  after it was ever handled. `QABot` replaces such an update by an empty one with the same id: polling
  moves past it, it is logged once (its id and kind, never its content) and counted.
- A 2xx answer that is not JSON raises `UnreadableResponse` (see `retry.py`) instead of a bare
  `TelegramError`, and its body (which may hold users' messages) is never logged.
- Start-up registers or removes the webhook itself (`bootstrap`), retrying only transient errors;
  python-telegram-bot's own bootstrap call that follows is then answered from memory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from telegram import Update
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from .retry import UnreadableResponse

log = logging.getLogger("qa_bot.bot")


class TelegramRequest(HTTPXRequest):
    @staticmethod
    def parse_json_payload(payload: bytes) -> dict[str, Any]:
        try:
            return json.loads(payload.decode("utf-8", "replace"))
        except ValueError:
            raise UnreadableResponse(f"Telegram's answer is not JSON ({len(payload)} bytes)") from None


class QABot(ExtBot):
    def __init__(self, *args: Any, on_unparseable: Callable[[int], None] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_unparseable = on_unparseable
        self._bootstrapped: tuple[str, str | None, str | None] | None = None

    async def _post(self, endpoint: str, *args: Any, **kwargs: Any) -> Any:
        result = await super()._post(endpoint, *args, **kwargs)
        if endpoint == "getUpdates" and isinstance(result, list):
            result = [raw for raw in map(self._readable, result) if raw is not None]
        return result

    def _readable(self, raw: Any) -> dict[str, Any] | None:
        """`raw` if python-telegram-bot can parse it; else an empty update with its id (None without one)."""
        try:
            Update.de_json(raw, self)
            return raw
        except Exception as exc:  # noqa: BLE001 - whatever the parser chokes on, skip that one update
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            kinds = ",".join(sorted(k for k in raw if k != "update_id")) if isinstance(raw, dict) else "?"
            log.warning("skipped update %s (%s) that python-telegram-bot cannot read (%s)", update_id, kinds,
                        type(exc).__name__)
            if not isinstance(update_id, int) or isinstance(update_id, bool):
                return None
            if self._on_unparseable is not None:
                self._on_unparseable(update_id)
            return {"update_id": update_id}

    # ------------------------------------------------------------------ start-up
    async def bootstrap(self, webhook_url: str | None, secret: str | None, **kwargs: Any) -> None:
        """setWebhook (webhook mode) or deleteWebhook (polling), remembered so the Updater's repeat is free."""
        if webhook_url:
            await super().set_webhook(webhook_url, secret_token=secret, **kwargs)
        else:
            await super().delete_webhook()
        self._bootstrapped = ("set" if webhook_url else "delete", webhook_url, secret)

    async def set_webhook(self, url: str, *args: Any, **kwargs: Any) -> bool:
        if self._bootstrapped == ("set", url, kwargs.get("secret_token")):
            self._bootstrapped = None
            return True
        return await super().set_webhook(url, *args, **kwargs)

    async def delete_webhook(self, *args: Any, **kwargs: Any) -> bool:
        if self._bootstrapped is not None and self._bootstrapped[0] == "delete" and not kwargs.get(
                "drop_pending_updates"):
            self._bootstrapped = None
            return True
        return await super().delete_webhook(*args, **kwargs)
