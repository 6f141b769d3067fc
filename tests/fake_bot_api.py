"""Test helpers around the local Bot API server (`qa_bot.devtools.fake_api.FakeBotAPI`): start it on
127.0.0.1, run the real bot Application against it with long polling, and stop both cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from qa_bot.bot.app import build_application, run_bot
from qa_bot.devtools.fake_api import FakeBotAPI, Sent, html_problem, visible_text
from qa_bot.service import QAService

__all__ = ["FakeBotAPI", "Sent", "html_problem", "visible_text", "BotUnderTest", "bot_against_fake_api", "TOKEN",
           "TokenWatch", "free_port"]

TOKEN = "4242424242:AAHsecretTOKENvalue_for-tests-only"
FAST_RETRIES = {"backoff": 0.05, "max_backoff": 0.2, "retry_for": 20.0}


@dataclass
class BotUnderTest:
    api: FakeBotAPI
    app: Any
    service: QAService
    task: asyncio.Task
    stop: asyncio.Event

    async def ready(self) -> None:
        """Wait until the bot polls or listens (getMe and setMyCommands are done)."""
        await self.api.wait_until(lambda: self.app.bot_data["core"].transport_running, 20)


@contextlib.asynccontextmanager
async def bot_against_fake_api(service: QAService, tmp_path, build: dict[str, Any] | None = None,
                               **settings: Any) -> AsyncIterator[BotUnderTest]:
    """Start a FakeBotAPI and the bot polling it; on exit stop the bot and check it did not crash.
    `build` adds keyword arguments of `build_application` (retry timing, read timeout)."""
    api = FakeBotAPI(TOKEN)
    await api.start()
    overrides = {"telegram_token": TOKEN, "telegram_base_url": api.base_url, "bot_state": tmp_path / "state.db",
                 "health_port": 0, "reload_interval": 0.0}
    overrides.update(settings)
    app = build_application(service.settings.with_overrides(**overrides), service, **{**FAST_RETRIES, **(build or {})})
    stop = asyncio.Event()
    task = asyncio.create_task(run_bot(app, stop, poll_timeout=2))
    bot = BotUnderTest(api, app, service, task, stop)
    try:
        await bot.ready()
        yield bot
        assert not task.done(), "the bot exited on its own"
    finally:
        stop.set()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), 20)
        await api.stop()
    task.result()  # re-raise anything the bot died of


class TokenWatch(logging.Handler):
    """Collects every formatted log line (all loggers, DEBUG up) to check the token never appears."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def __enter__(self) -> TokenWatch:
        root = logging.getLogger()
        self._level = root.level
        root.addHandler(self)
        root.setLevel(logging.DEBUG)
        self._levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
        for name in self._levels:
            logging.getLogger(name).setLevel(logging.DEBUG)  # the worst case: request URLs logged
        return self

    def __exit__(self, *exc: object) -> None:
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._level)
        for name, level in self._levels.items():
            logging.getLogger(name).setLevel(level)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
