"""Thin async Telegram handlers: read the update, ask `BotCore`, send HTML. No retrieval logic here.

Registered in `register()`; an access guard runs first (group -1) and stops updates from strangers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable
from contextlib import suppress
from typing import Any

from telegram import (
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatAction, ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from ..errors import QABotError
from ..text import one_line
from .core import BotCore, Page
from .html import MAX_MESSAGE, escape, newest_first, render_result, render_sources_page, tg_len
from .i18n import reply_lang, t
from .retry import MaybeDelivered
from .state import feedback_data, parse_feedback_data, parse_more_data

log = logging.getLogger("qa_bot.bot")

PUBLIC_COMMANDS = ("start", "help", "sources")
TYPING_AFTER = 0.8  # seconds
SOURCES_PREFIX = "s:"  # callback data of the /sources page buttons


def core_of(context: ContextTypes.DEFAULT_TYPE) -> BotCore:
    return context.application.bot_data["core"]


def message_of(update: Update) -> Message:
    """The update's message; the handlers that call this are registered for messages only."""
    message = update.effective_message
    if message is None:
        raise TypeError("a message handler got an update without a message")
    return message


def query_of(update: Update) -> CallbackQuery:
    query = update.callback_query
    if query is None:
        raise TypeError("a button handler got an update without a callback query")
    return query


def chat_of(update: Update) -> Chat:
    chat = update.effective_chat
    if chat is None:
        raise TypeError("a message handler got an update without a chat")
    return chat


def lang_for(update: Update, question: str | None = None) -> str:
    """The reply language: the question's own (by default the message's text), else the user's
    Telegram app language."""
    user = update.effective_user
    if question is None and update.effective_message is not None:
        question = update.effective_message.text
    return reply_lang(user.language_code if user else None, question)


def page_keyboard(page: Page, lang: str) -> InlineKeyboardMarkup | None:
    """"More ▸" (when there is more) and 👍 / 👎 (when the page was stored) under the last message."""
    rows = []
    if page.more:
        rows.append([InlineKeyboardButton(t("more_button", lang), callback_data=page.more)])
    if page.answer_id is not None:
        rows.append([InlineKeyboardButton("👍", callback_data=feedback_data(page.answer_id, "u")),
                     InlineKeyboardButton("👎", callback_data=feedback_data(page.answer_id, "d"))])
    return InlineKeyboardMarkup(rows) if rows else None


async def deliver(send: Awaitable[Any]) -> None:
    """Await one send; a send that reached Telegram but whose answer was lost counts as sent (retry.py)."""
    with suppress(MaybeDelivered):
        await send


async def send_page(message: Message, page: Page, lang: str) -> None:
    """Send a page as replies to `message`; the "more" button goes under the last part."""
    for i, text in enumerate(page.messages):
        last = i == len(page.messages) - 1
        await deliver(message.reply_text(text, reply_markup=page_keyboard(page, lang) if last else None))


async def over_limit(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Count one request against the sender's fair-use limit; True (after one warning) when over it."""
    core, lang = core_of(context), lang_for(update)
    user, chat = update.effective_user, update.effective_chat
    ident = user.id if user else (chat.id if chat else 0)
    if core.limiter.allow(ident):
        return False
    if core.limiter.should_warn(ident) and update.effective_message is not None:
        await deliver(message_of(update).reply_text(t("rate_limited", lang, limit=core.settings.bot.rate_limit)))
    return True


# ---------------------------------------------------------------------- access guard
async def guard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop updates from users and chats outside the allow-list; each stranger is told once."""
    core = core_of(context)
    user, chat = update.effective_user, update.effective_chat
    if core.is_allowed(user.id if user else None, chat.id if chat else None):
        return
    lang = lang_for(update)
    if update.callback_query:
        core.metrics.question("refused")
        with suppress(TelegramError):
            await update.callback_query.answer(t("refused", lang), show_alert=True)
    elif update.inline_query:
        core.metrics.question("refused")
        with suppress(TelegramError):
            await update.inline_query.answer([], cache_time=300, is_personal=True)
    elif update.message and chat is not None:
        addressed = chat.type == ChatType.PRIVATE or (update.message.text or "").startswith("/") \
            or addressed_question(update.message, context.bot.username, context.bot.id) is not None
        ident = user.id if (user and chat.type == ChatType.PRIVATE) else chat.id
        if addressed:
            core.metrics.question("refused")
        if addressed and await asyncio.to_thread(core.state.first_refusal, ident):
            log.info("refused chat_type=%s", chat.type)
            with suppress(TelegramError):
                await update.message.reply_text(t("refused", lang))
    raise ApplicationHandlerStop


# ---------------------------------------------------------------------- commands
async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await over_limit(update, context):
        return
    core, lang = core_of(context), lang_for(update)
    info = await asyncio.to_thread(core.service.info)  # a database engine reads it
    await message_of(update).reply_text(t("start", lang, documents=info.documents,
                                                passages=info.passages, example=t("example", lang)))


async def help_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await over_limit(update, context):
        return
    await _help(update, context)


async def _help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    lang = lang_for(update)
    await message_of(update).reply_text(
        t("help", lang, example=t("example", lang), username=escape(context.bot.username or "bot")))


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The indexed articles, newest first, one page per message with ◂ / ▸ buttons (a large corpus is
    browsed page by page instead of arriving as a flood of messages)."""
    if await over_limit(update, context):
        return
    core, lang = core_of(context), lang_for(update)
    text, markup = await asyncio.to_thread(_sources_page, core, lang, 1)
    await deliver(message_of(update).reply_text(text, reply_markup=markup))


def _sources_page(core: BotCore, lang: str, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    docs, info = newest_first(core.service.sources()), core.service.info()
    text, page, pages = render_sources_page(docs, info.passages, lang, page)
    buttons = []
    if page > 1:
        buttons.append(InlineKeyboardButton("◂", callback_data=f"{SOURCES_PREFIX}{page - 1}"))
    if page < pages:
        buttons.append(InlineKeyboardButton("▸", callback_data=f"{SOURCES_PREFIX}{page + 1}"))
    return text, InlineKeyboardMarkup([buttons]) if buttons else None


async def sources_page(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """◂ / ▸ under /sources: the message shows the other page."""
    core, lang = core_of(context), lang_for(update)
    query = query_of(update)
    match = re.fullmatch(rf"{SOURCES_PREFIX}([0-9]{{1,6}})", query.data or "")
    if match is None or query.message is None:
        await query.answer(t("stale_button", lang), show_alert=True)
        return
    if not core.limiter.allow(query.from_user.id):
        await query.answer(t("rate_limited", lang, limit=core.settings.bot.rate_limit), show_alert=True)
        return
    text, markup = await asyncio.to_thread(_sources_page, core, lang, int(match.group(1)))
    await query.answer()
    with suppress(TelegramError):  # "message is not modified" when pressed twice: nothing to do
        await deliver(query.edit_message_text(text, reply_markup=markup))


async def reload_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await over_limit(update, context):
        return
    core, lang = core_of(context), lang_for(update)
    if not core.is_admin(update.effective_user.id if update.effective_user else None):
        await message_of(update).reply_text(t("admin_only", lang))
        return
    changed = await asyncio.to_thread(core.service.reload_if_changed)
    if changed:
        core.metrics.reloads.labels("ok").inc()
    info = await asyncio.to_thread(core.service.info)
    key = "reloaded" if changed else "not_reloaded"
    await message_of(update).reply_text(t(key, lang, passages=info.passages,
                                                built_at=escape(str(info.built_at))))


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    if await over_limit(update, context):
        return
    core, lang = core_of(context), lang_for(update)
    if not core.is_admin(update.effective_user.id if update.effective_user else None):
        await message_of(update).reply_text(t("admin_only", lang))
        return
    if update.effective_chat is None or update.effective_chat.type != ChatType.PRIVATE:
        await message_of(update).reply_text(t("private_only", lang))  # counters are not for the group
        return
    report = {**core.health(), "feedback": await asyncio.to_thread(core.state.feedback_summary)}
    body = json.dumps(report, indent=1, ensure_ascii=False)
    await message_of(update).reply_text(f"<pre>{escape(body)}</pre>")


# ---------------------------------------------------------------------- questions
def addressed_question(message: Message, username: str | None, bot_id: int | None) -> str | None:
    """The question in a group message meant for the bot (a mention or a reply to it), else None."""
    text = message.text or ""
    mentions = [part for entity, part in message.parse_entities([MessageEntity.MENTION]).items()
                if username and part.lower() == f"@{username.lower()}"]
    text_mentions = [part for entity, part in message.parse_entities([MessageEntity.TEXT_MENTION]).items()
                     if entity.user and entity.user.id == bot_id]
    replied = message.reply_to_message
    is_reply = bool(replied and replied.from_user and replied.from_user.id == bot_id)
    if not (mentions or text_mentions or is_reply):
        return None
    for part in mentions + text_mentions:
        text = text.replace(part, " ")
    return " ".join(text.split())


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE, question: str) -> None:
    """Rate-limit, search off the loop, reply with quoted passages (or a short 'nothing found')."""
    core, lang = core_of(context), lang_for(update, question)
    message, chat = message_of(update), chat_of(update)
    if await over_limit(update, context):
        core.metrics.question("rate_limited")
        return
    log.debug("question from user=%s chat=%s", update.effective_user.id if update.effective_user else None,
              chat.id)  # who asked: only at debug level, never in metrics
    typing = asyncio.create_task(_typing_after(context, chat.id, TYPING_AFTER))
    try:
        page = await core.ask(question, lang, chat.type)
    finally:
        typing.cancel()
    await send_page(message, page, lang)


async def _typing_after(context: ContextTypes.DEFAULT_TYPE, chat_id: int, delay: float) -> None:
    """Show "typing…" only for slow answers: an action per question would halve the 30 messages/s budget."""
    await asyncio.sleep(delay)
    with suppress(TelegramError):
        await context.bot.send_chat_action(chat_id, ChatAction.TYPING)


async def private_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await answer(update, context, message_of(update).text or "")


async def group_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    question = addressed_question(message_of(update), context.bot.username, context.bot.id)
    if question is not None:
        await answer(update, context, question)


# ---------------------------------------------------------------------- admins add sources
BOT_API_DOWNLOAD_MB = 20  # the Bot API serves bots no larger files
UPLOAD_TYPES = (".html", ".htm", ".pdf", ".txt", ".md")


async def source_url(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An admin sends a URL (web page, PDF or RSS/Atom feed): fetched, saved and indexed."""
    url = (message_of(update).text or "").strip()
    service = core_of(context).service
    await _add_source(update, context, lambda: asyncio.to_thread(service.add_sources, [url]))


async def source_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An admin sends a document (HTML, PDF, TXT, MD): checked for type and size, downloaded, indexed."""
    core, lang = core_of(context), lang_for(update)
    if not await _admin_for_sources(update, core, lang):
        return
    document = message_of(update).document
    if document is None:
        raise TypeError("the document handler got a message without a document")
    name = document.file_name or "document"
    if not name.lower().endswith(UPLOAD_TYPES):
        await deliver(message_of(update).reply_text(t("source_bad_type", lang)))
        return
    limit_mb = min(core.settings.max_source_mb, BOT_API_DOWNLOAD_MB)
    size = document.file_size or 0
    if size > limit_mb * 1024 * 1024:
        await deliver(message_of(update).reply_text(t("source_too_large", lang, limit=limit_mb,
                                                            size=f"{size / 1048576:.1f}")))
        return

    async def work():
        data = bytes(await (await document.get_file()).download_as_bytearray())
        return await asyncio.to_thread(core.service.add_upload, name, data)

    await _add_source(update, context, work)


async def _admin_for_sources(update: Update, core: BotCore, lang: str) -> bool:
    if core.is_admin(update.effective_user.id if update.effective_user else None):
        return True
    await deliver(message_of(update).reply_text(t("sources_admins_only", lang)))
    return False


async def _add_source(update: Update, context: ContextTypes.DEFAULT_TYPE, work) -> None:
    """Run `work()` (fetch or download, then index, off the event loop; one source at a time per process)
    and report what changed."""
    core, lang = core_of(context), lang_for(update)
    message = message_of(update)
    if not await _admin_for_sources(update, core, lang):
        return
    if core.adding_source.locked():
        await deliver(message.reply_text(t("source_busy", lang)))
        return
    async with core.adding_source:
        await deliver(message.reply_text(t("source_working", lang)))
        try:
            collected, report = await work()
        except (QABotError, TelegramError) as exc:
            log.warning("adding a source failed: %s", exc)
            await deliver(message.reply_text(t("source_failed", lang, error=escape(str(exc)))))
            return
    log.info("source added: %d article(s) added, %d changed, %d feed(s) subscribed", len(report.added),
             len(report.changed), len(collected.feeds_added))
    lines = []
    if collected.feeds_added:
        lines.append(t("source_feed", lang))
    new = report.added + report.changed
    if new:
        titles = {d.doc_id: d.title for d in await asyncio.to_thread(core.service.sources)}
        shown = [f"• {escape(titles.get(doc_id, doc_id))}" for doc_id in new[:10]]
        if len(new) > 10:
            shown.append(f"… +{len(new) - 10}")
        lines.append(t("source_added", lang, articles=len(new), titles="\n".join(shown),
                       passages=report.passages_total, seconds=f"{core.settings.bot.reload_interval:g}"))
    else:
        lines.append(t("source_unchanged", lang, passages=report.passages_total))
    if collected.problems:
        lines.append(t("source_problems", lang, count=len(collected.problems)))
    await deliver(message.reply_text("\n\n".join(lines)))


async def other_input(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice, documents in a private chat: say what the bot understands."""
    await message_of(update).reply_text(t("text_only", lang_for(update)))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await help_(update, context)


async def more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "more" button: next passages as a new message; expired or forged data gets a polite alert."""
    core, lang = core_of(context), lang_for(update)
    query = update.callback_query
    if query is None:
        raise TypeError("the More handler got an update without a callback query")
    parsed = parse_more_data(query.data)
    entry = await asyncio.to_thread(core.state.get_question, parsed[0]) if parsed else None
    if parsed is None or entry is None or query.message is None:
        log.info("stale or forged callback data")
        await query.answer(t("stale_button", lang), show_alert=True)
        return
    if not await asyncio.to_thread(core.state.first_press, query.message.chat.id, query.message.message_id):
        await query.answer()  # this button was pressed already: its page is on its way or sent
        return
    user_id = query.from_user.id
    if not core.limiter.allow(user_id):
        core.metrics.question("rate_limited")
        await query.answer(t("rate_limited", lang, limit=core.settings.bot.rate_limit), show_alert=True)
        return
    await query.answer()
    question, asked_lang = entry
    page = await core.ask(question, asked_lang, query.message.chat.type, offset=parsed[1])
    if isinstance(query.message, Message):
        keep = [row for row in (query.message.reply_markup.inline_keyboard if query.message.reply_markup else ())
                if all(str(button.callback_data or "").startswith("f:") for button in row)]
        with suppress(TelegramError):  # the "More" button has done its job; 👍 / 👎 stay
            await query.edit_message_reply_markup(reply_markup=InlineKeyboardMarkup(keep) if keep else None)
    for i, text in enumerate(page.messages):
        last = i == len(page.messages) - 1
        await deliver(context.bot.send_message(query.message.chat.id, text,
                                               reply_markup=page_keyboard(page, asked_lang) if last else None))


async def feedback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """👍 / 👎 under an answer: stored with the question and the passages shown; a short thank-you."""
    core, lang = core_of(context), lang_for(update)
    query = query_of(update)
    parsed = parse_feedback_data(query.data)
    if parsed is None or not await asyncio.to_thread(core.state.vote, parsed[0], query.from_user.id, parsed[1]):
        log.info("stale or forged feedback data")
        await query.answer(t("stale_button", lang), show_alert=True)
        return
    log.info("feedback vote=%s", "up" if parsed[1] > 0 else "down")
    await query.answer(t("feedback_thanks", lang))


async def inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`@bot question` in any chat: the top passages as articles the user can send."""
    core, query = core_of(context), update.inline_query
    if query is None:
        raise TypeError("the inline handler got an update without an inline query")
    question = one_line(query.query or "")
    lang = lang_for(update, question)
    if not question:
        await query.answer([], cache_time=5, is_personal=True)
        return
    if not core.limiter.allow(query.from_user.id):
        core.metrics.question("rate_limited")
        await query.answer([], cache_time=5, is_personal=True)
        return
    results = await core.inline_results(question, lang)
    head = f"❓ <i>{escape(question)}</i>\n"
    articles = []
    for r in results:
        body = head + render_result(r, lang, MAX_MESSAGE - tg_len(head), lead=True)
        articles.append(InlineQueryResultArticle(
            id=f"{r.passage_id}-{r.rank}"[:64],
            title=f"{r.rank}. {r.source.title}"[:100],
            description=r.highlight[:200],
            input_message_content=InputTextMessageContent(body),
        ))
    await query.answer(articles, cache_time=60)


# ---------------------------------------------------------------------- errors
async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log first (token redacted by the log setup), then tell a private-chat user, never raise."""
    update_id = getattr(update, "update_id", None)
    if isinstance(context.error, MaybeDelivered):  # logged where it happened; the reply most likely arrived
        return
    log.error("error handling update %s: %s", update_id, context.error, exc_info=context.error)
    core = context.application.bot_data.get("core")
    if core is not None:
        core.counts["errors"] += 1
    if isinstance(update, Update) and update.effective_chat and update.effective_chat.type == ChatType.PRIVATE:
        with suppress(Exception):
            await context.bot.send_message(update.effective_chat.id, t("error", lang_for(update)))


def register(app: Application) -> None:
    """All handlers, in the order they are tried."""
    new_message = filters.UpdateType.MESSAGE  # edited messages are ignored on purpose
    app.add_handler(TypeHandler(Update, guard), group=-1)
    app.add_handler(CommandHandler("start", start, filters=new_message))
    app.add_handler(CommandHandler("help", help_, filters=new_message))
    app.add_handler(CommandHandler("sources", sources, filters=new_message))
    app.add_handler(CommandHandler("reload", reload_, filters=new_message))
    app.add_handler(CommandHandler("stats", stats, filters=new_message))
    app.add_handler(MessageHandler(new_message & filters.ChatType.PRIVATE & filters.COMMAND, unknown_command))
    app.add_handler(MessageHandler(new_message & filters.ChatType.PRIVATE & filters.Regex(r"^\s*https?://\S+\s*$"),
                                   source_url))
    app.add_handler(MessageHandler(new_message & filters.ChatType.PRIVATE & filters.Document.ALL, source_document))
    app.add_handler(MessageHandler(new_message & filters.ChatType.PRIVATE & filters.TEXT, private_text))
    app.add_handler(MessageHandler(new_message & filters.ChatType.GROUPS & filters.TEXT & ~filters.COMMAND,
                                   group_text))
    app.add_handler(MessageHandler(new_message & filters.ChatType.PRIVATE & ~filters.TEXT
                                   & ~filters.StatusUpdate.ALL, other_input))
    app.add_handler(CallbackQueryHandler(feedback, pattern=r"^f:"))
    app.add_handler(CallbackQueryHandler(sources_page, pattern=r"^s:"))
    app.add_handler(CallbackQueryHandler(more))
    app.add_handler(InlineQueryHandler(inline))
    app.add_error_handler(on_error)
