"""Build the python-telegram-bot `Application` and run it until SIGTERM/SIGINT.

The lifecycle is driven by hand (initialize → start polling or webhook → start → wait → stop) instead of
`run_polling()`, so the same `run_bot` coroutine serves `qa-bot serve`, the end-to-end tests and the load
benchmark, and so start-up can retry an unreachable Telegram without exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any
from urllib.parse import urlsplit

from telegram import BotCommand, BotCommandScopeChat, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, Defaults
from telegram.request import BaseRequest

from ..errors import SettingsError
from ..service import QAService
from ..settings import Settings
from . import handlers
from .core import BotCore
from .health import start_health_server
from .i18n import t
from .logs import install_redaction
from .retry import RetryingRateLimiter
from .state import BotState

log = logging.getLogger("qa_bot.bot")


def build_application(settings: Settings, service: QAService, state: BotState | None = None,
                      request: BaseRequest | None = None, **retry_options: Any) -> Application:
    """The configured Application: HTML defaults, concurrent updates, flood control with retries.

    `request` replaces the HTTP client (offline tests); `retry_options` tune `RetryingRateLimiter`.
    """
    if not settings.bot.telegram_token:
        raise SettingsError("TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather and export its token.")
    install_redaction(settings.bot.telegram_token, settings.bot.webhook_secret)  # before the first request is logged
    # Opt in to PTB's future `retry_after` type now: otherwise every 429 logs a deprecation warning.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    state = state or BotState(settings.state_path())
    builder = (Application.builder()
               .token(settings.bot.telegram_token)
               .defaults(Defaults(parse_mode=ParseMode.HTML, allow_sending_without_reply=True,
                                  link_preview_options=LinkPreviewOptions(is_disabled=True)))
               .concurrent_updates(True)
               .rate_limiter(RetryingRateLimiter(**retry_options)))
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    if settings.bot.telegram_base_url:
        builder = builder.base_url(settings.bot.telegram_base_url)
    app = builder.build()
    app.bot_data["core"] = BotCore(settings, service, state)
    handlers.register(app)
    return app


async def register_commands(app: Application) -> None:
    """setMyCommands in English and German, plus the admin commands for each admin's private chat."""
    public = [(name, f"cmd_{name}") for name in handlers.PUBLIC_COMMANDS]
    for lang in ("en", "de"):
        commands = [BotCommand(name, t(key, lang)) for name, key in public]
        await app.bot.set_my_commands(commands, language_code=None if lang == "en" else lang)
    core: BotCore = app.bot_data["core"]
    admin = [BotCommand(name, t(f"cmd_{name}", "en")) for name, _ in public] + [
        BotCommand("reload", "Load a new index from disk"), BotCommand("stats", "Uptime, index and counters")]
    for admin_id in sorted(core.settings.bot.admin_ids):
        try:  # fails until the admin has started a chat with the bot: not fatal
            await app.bot.set_my_commands(admin, scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:
            log.warning("could not set admin commands for an admin chat: %s", exc)


async def reload_loop(core: BotCore, interval: float) -> None:
    """Hot reload: pick up a new index generation written by `qa-bot index`, without a restart."""
    while True:
        await asyncio.sleep(interval)
        try:
            if await asyncio.to_thread(core.service.reload_if_changed):
                info = core.service.info()
                log.info("hot reload: now serving generation %s (%s passages)", info.generation, info.passages)
        except Exception:
            log.exception("hot reload failed; still serving the previous index")


async def _initialize(app: Application, stop: asyncio.Event, max_wait: float = 60.0) -> bool:
    """getMe with retries while Telegram is unreachable; False when asked to stop meanwhile."""
    delay = 1.0
    while True:
        try:
            await app.initialize()
            return True
        except InvalidToken:
            raise SettingsError("Telegram rejected the bot token (TELEGRAM_BOT_TOKEN). Check it with @BotFather.") \
                from None
        except NetworkError as exc:
            log.warning("Telegram unreachable at start-up (%s); retrying in %.0fs", exc, delay)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            return False
        delay = min(delay * 2, max_wait)


async def run_bot(app: Application, stop: asyncio.Event, poll_interval: float = 0.0,
                  poll_timeout: int = 10) -> None:
    """Serve updates (long polling, or webhook when configured) until `stop` is set; then shut down."""
    core: BotCore = app.bot_data["core"]
    settings = core.settings
    try:
        initialized = await _initialize(app, stop)
    except BaseException:
        core.close()
        raise
    if not initialized:
        core.close()
        return
    health = None
    reloader = None
    try:
        log.info("bot @%s started; index: %s passages", app.bot.username, core.service.info().passages)
        try:
            await register_commands(app)
        except TelegramError as exc:
            log.warning("setMyCommands failed: %s", exc)
        if settings.bot.health_port:
            try:
                health = await start_health_server(core.health, settings.bot.health_port, settings.bot.health_listen)
            except OSError as exc:
                raise SettingsError(f"Cannot open the health endpoint on {settings.bot.health_listen}:"
                                    f"{settings.bot.health_port} ({exc.strerror}). Set QA_BOT_HEALTH_PORT to a free "
                                    "port (or 0), or QA_BOT_HEALTH_LISTEN to an address of this host.") from None
        if settings.bot.reload_interval > 0:
            reloader = asyncio.create_task(reload_loop(core, settings.bot.reload_interval))
        if settings.bot.webhook_url:
            path = urlsplit(settings.bot.webhook_url).path.lstrip("/")
            await app.updater.start_webhook(listen=settings.bot.webhook_listen, port=settings.bot.webhook_port,
                                            url_path=path, webhook_url=settings.bot.webhook_url,
                                            secret_token=settings.bot.webhook_secret,
                                            allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1)
            log.info("webhook mode on %s:%d", settings.bot.webhook_listen, settings.bot.webhook_port)
        else:
            await app.updater.start_polling(poll_interval=poll_interval, timeout=poll_timeout,
                                            allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1)
            log.info("long polling")
        await app.start()
        core.transport_running = True
        await stop.wait()
        log.info("stopping")
    finally:
        core.transport_running = False
        if app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        if reloader is not None:
            reloader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reloader
        if health is not None:
            await health.cleanup()
        await app.shutdown()
        core.close()
        log.info("stopped")


def serve(settings: Settings, service: QAService) -> None:
    """Run the bot in the foreground until SIGTERM or SIGINT (what `qa-bot serve` calls)."""
    app = build_application(settings, service)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_bot(app, stop)

    asyncio.run(main())
