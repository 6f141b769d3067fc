"""Build the python-telegram-bot `Application` and run it until SIGTERM/SIGINT.

The lifecycle is driven by hand (initialize → start polling or webhook → start → wait → stop) instead of
`run_polling()`, so the same `run_bot` coroutine serves `qa-bot serve`, the end-to-end tests and the load
benchmark, and so start-up can retry an unreachable Telegram without exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from telegram import BotCommand, BotCommandScopeChat, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, Defaults
from telegram.request import BaseRequest

from ..errors import SettingsError
from ..service import QAService
from ..settings import Settings
from . import handlers
from .client import QABot, TelegramRequest
from .core import BotCore
from .health import start_health_server
from .i18n import t
from .logs import install_redaction
from .retry import RetryingRateLimiter, is_transient
from .state import BotState

log = logging.getLogger("qa_bot.bot")
T = TypeVar("T")


def build_application(settings: Settings, service: QAService, state: BotState | None = None,
                      request: BaseRequest | None = None, read_timeout: float = 5.0,
                      **retry_options: Any) -> Application:
    """The configured Application: HTML defaults, concurrent updates, flood control with retries.

    `request` replaces the HTTP client (offline tests); `read_timeout` is how long an answer from Telegram
    is awaited (getUpdates adds its long-poll time); `retry_options` tune `RetryingRateLimiter`.
    """
    if not settings.bot.telegram_token:
        raise SettingsError("TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather and export its token.")
    if settings.bot.webhook_url and not settings.bot.webhook_secret:
        # Without a secret anyone who finds the URL could post updates posing as any user or admin.
        settings = settings.with_overrides(webhook_secret=secrets.token_urlsafe(32))
        log.info("QA_BOT_WEBHOOK_SECRET is not set: using a random secret for this run")
    install_redaction(settings.bot.telegram_token, settings.bot.webhook_secret)  # before the first request is logged
    if state is None:
        if settings.database_url:  # replicas: one state for all of them
            from .shared import SharedState

            state = SharedState(settings)  # type: ignore[assignment]
        else:
            state = BotState(settings.state_path())
    core = BotCore(settings, service, state)  # type: ignore[arg-type]
    if getattr(state, "shared", False):
        from .shared import SharedRateLimiter

        core.limiter = SharedRateLimiter(state, settings.bot.rate_limit)  # type: ignore[assignment,arg-type]
    extra: dict[str, Any] = {}
    if settings.bot.telegram_base_url:  # a self-hosted Bot API server serves files at /file/bot<token>/…
        extra["base_url"] = settings.bot.telegram_base_url
        extra["base_file_url"] = file_url_for(settings.bot.telegram_base_url)
    bot = QABot(settings.bot.telegram_token,
                request=request or TelegramRequest(connection_pool_size=256, read_timeout=read_timeout),
                get_updates_request=request or TelegramRequest(connection_pool_size=1, read_timeout=read_timeout),
                defaults=Defaults(parse_mode=ParseMode.HTML, allow_sending_without_reply=True,
                                  link_preview_options=LinkPreviewOptions(is_disabled=True)),
                rate_limiter=RetryingRateLimiter(on_retry=core.metrics.telegram_retries.inc,
                                                 on_error=lambda exc: core.metrics.telegram_errors.labels(
                                                     type(exc).__name__).inc(), **retry_options),
                on_unparseable=core.unparseable, **extra)
    app = Application.builder().bot(bot).concurrent_updates(True).build()
    app.bot_data["core"] = core
    handlers.register(app)
    return app


def file_url_for(base_url: str) -> str:
    """`http://host:8081/bot` -> `http://host:8081/file/bot`: where that server serves downloads."""
    head, sep, _tail = base_url.rstrip("/").rpartition("/bot")
    return f"{head}/file/bot" if sep else base_url.rstrip("/") + "/file/bot"


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
    """Hot reload: pick up a new index generation written by `qa-bot index`, without a restart. A failing
    reload keeps the previous index, makes /health report "degraded", and is logged once per new error."""
    while True:
        await asyncio.sleep(interval)
        try:
            if await asyncio.to_thread(core.service.reload_if_changed):
                info = core.service.info()
                log.info("hot reload: now serving generation %s (%s passages)", info.generation, info.passages)
                core.metrics.reloads.labels("ok").inc()
            core.reload_ok()
        except Exception as exc:  # noqa: BLE001 - whatever it is, the previous index keeps serving
            core.metrics.reloads.labels("failed").inc()
            core.reload_failed(exc)


async def heartbeat_loop(core: BotCore, interval: float) -> None:
    """Replicas: publish this one's counters for /stats on any replica, and tidy the shared tables."""
    while True:
        try:
            await asyncio.to_thread(core.state.publish, dict(core.counts))  # type: ignore[attr-defined]
            await asyncio.to_thread(core.state.tidy)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - the database is briefly away: the next beat catches up
            log.warning("could not publish this replica's counters (%s)", type(exc).__name__)
        await asyncio.sleep(interval)


async def _until_stopped(action: Callable[[], Awaitable[T]], stop: asyncio.Event) -> tuple[bool, T | None]:
    """Run `action()` unless `stop` is set first (then cancel it): (finished, result)."""
    task = asyncio.ensure_future(action())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait((task, stopper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return True, task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return False, None


async def _with_retries(what: str, action: Callable[[], Awaitable[Any]], stop: asyncio.Event,
                        permanent: Callable[[TelegramError], SettingsError], max_wait: float = 60.0) -> bool:
    """Start-up step: retry transient Telegram errors with backoff until `stop`; a permanent error is a
    SettingsError (one line, exit 1). False when asked to stop meanwhile."""
    delay = 1.0
    while True:
        try:
            finished, _ = await _until_stopped(action, stop)
            return finished
        except TelegramError as exc:
            if not is_transient(exc):
                raise permanent(exc) from None
            log.warning("%s failed (%s); retrying in %.0f s", what, exc, delay)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        if stop.is_set():
            return False
        delay = min(delay * 2, max_wait)


def _refused(method: str, fix: str, what: str = "") -> Callable[[TelegramError], SettingsError]:
    """The one-line start-up error for a permanent failure of `method`."""
    def error(exc: TelegramError) -> SettingsError:
        if isinstance(exc, InvalidToken):
            return SettingsError("Telegram rejected the bot token (TELEGRAM_BOT_TOKEN). Check it with @BotFather.")
        cause = f"{method}: {exc}" if what else str(exc)
        return SettingsError(f"Telegram refused {what or method} ({cause}). {fix}")
    return error


async def _start_transport(app: Application, stop: asyncio.Event, poll_interval: float, poll_timeout: int) -> bool:
    """Register (or remove) the webhook and start receiving updates; False when stopped meanwhile."""
    settings: Settings = app.bot_data["core"].settings
    bot: QABot = app.bot
    updater = app.updater
    if updater is None:
        raise TypeError("the application was built without an updater")
    url = settings.bot.webhook_url
    if url:
        done = await _with_retries(
            "setWebhook", lambda: bot.bootstrap(url, settings.bot.webhook_secret, allowed_updates=Update.ALL_TYPES),
            stop, _refused("setWebhook", "Check QA_BOT_WEBHOOK_URL (a public https:// URL on port 443, 80, 88 "
                                         "or 8443) and QA_BOT_WEBHOOK_SECRET.", what="the webhook"))
        if not done:
            return False
        state = app.bot_data["core"].state
        try:
            from .webhook import LocalClaims, start_webhook_server

            # An update is acknowledged once answered; replicas claim update ids in the shared database.
            claims = state if getattr(state, "shared", False) else LocalClaims()
            app.bot_data["webhook_server"] = await start_webhook_server(
                app, claims, settings.bot.webhook_listen, settings.bot.webhook_port, urlsplit(url).path,
                settings.bot.webhook_secret)
        except OSError as exc:
            where = f"{settings.bot.webhook_listen}:{settings.bot.webhook_port}"
            raise SettingsError(f"Cannot listen for webhook calls on {where} ({exc.strerror or exc}). "
                                "Set QA_BOT_WEBHOOK_PORT to a free port.") from None
        log.info("webhook mode on %s:%d", settings.bot.webhook_listen, settings.bot.webhook_port)
        return True
    state = app.bot_data["core"].state
    if getattr(state, "shared", False):
        from .shared import check_poller

        await asyncio.to_thread(check_poller, state, settings.bot.telegram_token or "")
    done = await _with_retries("deleteWebhook", lambda: bot.bootstrap(None, None), stop,
                               _refused("deleteWebhook", "Check TELEGRAM_BOT_TOKEN and QA_BOT_TELEGRAM_BASE_URL."))
    if not done:
        return False
    await updater.start_polling(poll_interval=poll_interval, timeout=poll_timeout,
                                    allowed_updates=Update.ALL_TYPES, bootstrap_retries=0,
                                    error_callback=app.bot_data["core"].polling_failed)
    log.info("long polling")
    return True


async def run_bot(app: Application, stop: asyncio.Event, poll_interval: float = 0.0,
                  poll_timeout: int = 10) -> None:
    """Serve updates (long polling, or webhook when configured) until `stop` is set; then shut down."""
    core: BotCore = app.bot_data["core"]
    settings = core.settings
    health = None
    reloader = heart = None
    try:
        initialized = await _with_retries(
            "getMe", app.initialize, stop,
            _refused("getMe", "Check TELEGRAM_BOT_TOKEN and QA_BOT_TELEGRAM_BASE_URL."))
        if not initialized:
            return
        log.info("bot @%s started; index: %s passages", app.bot.username, core.service.info().passages)
        try:
            await register_commands(app)
        except TelegramError as exc:
            log.warning("setMyCommands failed: %s", exc)
        if settings.bot.health_port:
            try:
                health = await start_health_server(core.health, settings.bot.health_port, settings.bot.health_listen,
                                                   metrics=core.metrics)
            except OSError as exc:
                raise SettingsError(f"Cannot open the health endpoint on {settings.bot.health_listen}:"
                                    f"{settings.bot.health_port} ({exc.strerror}). Set QA_BOT_HEALTH_PORT to a free "
                                    "port (or 0), or QA_BOT_HEALTH_LISTEN to an address of this host.") from None
        if settings.bot.reload_interval > 0:
            reloader = asyncio.create_task(reload_loop(core, settings.bot.reload_interval))
        if getattr(core.state, "shared", False):
            heart = asyncio.create_task(heartbeat_loop(core, settings.bot.reload_interval or 5.0))
        if not await _start_transport(app, stop, poll_interval, poll_timeout):
            return
        await app.start()
        core.transport_running = True
        await stop.wait()
        log.info("stopping")
    finally:
        core.transport_running = False
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        for task in (reloader, heart):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if "webhook_server" in app.bot_data:
            await app.bot_data.pop("webhook_server").cleanup()
        if health is not None:
            await health.cleanup()
        with contextlib.suppress(Exception):
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
