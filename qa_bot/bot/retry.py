"""Outgoing flood control plus retries: AIORateLimiter honours 429 retry_after; on top of it, transient
network errors and Telegram 5xx answers are retried with backoff so one bad moment loses no reply."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import BadRequest, Conflict, EndPointNotFound, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

PERMANENT = (BadRequest, Forbidden, InvalidToken, Conflict, EndPointNotFound, RetryAfter)


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter (retries 429 after `retry_after`) that also retries network errors and 5xx."""

    def __init__(self, network_retries: int = 5, backoff: float = 0.5, max_backoff: float = 10.0,
                 max_retries: int = 5, **kwargs: Any) -> None:
        super().__init__(max_retries=max_retries, **kwargs)
        self.network_retries = network_retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        delay = self.backoff
        attempt = 0
        while True:
            try:
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
            except PERMANENT:
                raise
            except NetworkError as exc:  # includes TimedOut and 5xx answers
                attempt += 1
                if attempt > self.network_retries:
                    log.error("Telegram %s failed after %d retries: %s", endpoint, self.network_retries, exc)
                    raise
                log.warning("Telegram %s failed (%s); retry %d/%d in %.1fs", endpoint, exc, attempt,
                            self.network_retries, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
