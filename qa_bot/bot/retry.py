"""What is retried, for how long, and what is never sent twice.

Every Bot API call except getUpdates goes through `RetryingRateLimiter`: python-telegram-bot's
`AIORateLimiter` (flood control, waits out 429 `retry_after`) plus retries of *transient* failures with
exponential backoff (0.5 s doubling to 15 s) for up to `RETRY_FOR` seconds per call. Permanent failures
(400, 401, 403, 404, 409, a URL that cannot work) are raised at once: retrying cannot fix them.

A send (`sendMessage`, …) whose request reached Telegram but whose answer was lost (read timeout) or
unreadable (a 2xx with a body that is not JSON) is not sent again: Telegram has most likely delivered
it, and there is no way to ask. It raises `MaybeDelivered`, which the handlers treat as sent. Anything
that failed before Telegram could act on it (no connection, dropped connection, 5xx, 429) is resent.
getUpdates is retried by python-telegram-bot's polling loop itself, for as long as the bot runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

RETRY_FOR = 300.0  # seconds a single Bot API call keeps being retried while Telegram is unreachable
PERMANENT = (BadRequest, Forbidden, InvalidToken, Conflict, EndPointNotFound, ChatMigrated)
# httpx errors raised before anything is sent that no retry can fix (a URL without scheme, a bad header)
HOPELESS_HTTP = (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError)


class UnreadableResponse(TelegramError):
    """Telegram answered 2xx with a body that is not JSON: the call went through, its answer is lost."""


class MaybeDelivered(TelegramError):
    """A send reached Telegram but its answer was lost; it is not repeated (that would duplicate it)."""


def is_transient(exc: BaseException) -> bool:
    """True when trying the same call again later may succeed."""
    if isinstance(exc, PERMANENT):
        return False
    if isinstance(exc, (RetryAfter, TimedOut, UnreadableResponse)):
        return True
    if isinstance(exc, NetworkError):
        return not isinstance(exc.__cause__, HOPELESS_HTTP)
    return False


def reached_telegram(exc: BaseException) -> bool:
    """True when the failed request was fully sent, so Telegram may well have carried it out."""
    return isinstance(exc, UnreadableResponse) or (
        isinstance(exc, TimedOut) and isinstance(exc.__cause__, httpx.ReadTimeout))


def not_repeatable(endpoint: str) -> bool:
    """Calls whose repetition the user would see twice (a second copy of a message)."""
    return endpoint.startswith(("send", "forward", "copy")) and endpoint != "sendChatAction"


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter (waits out 429) that also retries transient failures for up to `retry_for` seconds."""

    def __init__(self, retry_for: float = RETRY_FOR, backoff: float = 0.5, max_backoff: float = 15.0,
                 max_retries: int = 5, on_retry: Callable[[], None] | None = None,
                 on_error: Callable[[BaseException], None] | None = None, **kwargs: Any) -> None:
        super().__init__(max_retries=max_retries, **kwargs)
        self.retry_for = retry_for
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.on_retry = on_retry or (lambda: None)  # metrics: every call sent again (429 waits included)
        self.on_error = on_error or (lambda exc: None)  # metrics: every call that failed for good

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        try:
            return await self._with_retries(callback, args, kwargs, endpoint, data, rate_limit_args)
        except MaybeDelivered:
            raise  # most likely sent: not an error the user sees
        except TelegramError as exc:
            self.on_error(exc)
            raise

    async def _with_retries(self, callback: Callable[..., Coroutine[Any, Any, Any]], args: Any,
                            kwargs: dict[str, Any], endpoint: str, data: dict[str, Any],
                            rate_limit_args: int | None) -> Any:
        calls = 0

        async def counted(*a: Any, **kw: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls > 1:  # AIORateLimiter's own 429 retries come through here too
                self.on_retry()
            return await callback(*a, **kw)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_for
        delay = self.backoff
        attempt = 0
        while True:
            try:
                return await super().process_request(counted, args, kwargs, endpoint, data, rate_limit_args)
            except TelegramError as exc:
                if not is_transient(exc):
                    raise
                if not_repeatable(endpoint) and reached_telegram(exc):
                    log.warning("Telegram %s: %s after the request was sent; not sending it again (it has most "
                                "likely arrived, a second copy would be a duplicate)", endpoint, _describe(exc))
                    raise MaybeDelivered(f"{endpoint}: {_describe(exc)}") from exc
                attempt += 1
                wait = _retry_after(exc) if isinstance(exc, RetryAfter) else delay
                if loop.time() + wait > deadline:
                    log.error("Telegram %s failed for %.0f s (%d attempts), giving up: %s", endpoint,
                              self.retry_for, attempt, _describe(exc))
                    raise
                log.warning("Telegram %s failed (%s); retrying in %.1f s (attempt %d)", endpoint, _describe(exc),
                            wait, attempt)
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.max_backoff)


def _retry_after(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


def _describe(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(exc, TimedOut) and cause is not None:
        return f"timed out ({type(cause).__name__})"
    return str(exc) or type(exc).__name__
