"""A small local Bot API server (aiohttp, 127.0.0.1 only) for end-to-end tests and the load benchmark.

It speaks enough of https://core.telegram.org/bots/api for python-telegram-bot: getMe, deleteWebhook,
setWebhook, setMyCommands, getUpdates (offsets and long polling), sendMessage, editMessageText,
editMessageReplyMarkup, answerCallbackQuery, answerInlineQuery, sendChatAction, getFile (and the file
download URL). Every text the bot sends
is checked as Telegram HTML (allowed tags, balanced, escaped, at most 4096 characters) and rejected with
400 like Telegram would. Faults (HTTP 500, 429 with retry_after, dropped connections) can be scheduled.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")

ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote",
                "tg-spoiler", "span", "tg-emoji"}
STRING_FIELDS = {"text", "callback_query_id", "inline_query_id", "parse_mode", "url", "action", "secret_token",
                 "next_offset", "inline_message_id", "description", "short_description", "language_code"}
TAG_RE = re.compile(r'<(/?)([a-z-]+)((?:\s+[a-z-]+(?:="[^"<>]*")?)*)\s*>')  # <blockquote expandable>
ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def html_problem(text: str, limit: int = 4096) -> str | None:
    """Why Telegram would reject `text` as HTML message text, or None when it is fine."""
    if not text or not text.strip():
        return "message text is empty"
    if utf16_len(text) > limit:
        return f"message is too long ({utf16_len(text)} > {limit})"
    stack: list[str] = []
    pos = 0
    visible: list[str] = []
    for match in TAG_RE.finditer(text):
        visible.append(text[pos:match.start()])
        pos = match.end()
        closing, tag, attrs = match.group(1), match.group(2), match.group(3)
        if tag not in ALLOWED_TAGS:
            return f"unsupported tag <{tag}>"
        if closing:
            if not stack or stack[-1] != tag:
                return f"unexpected end tag </{tag}>"
            stack.pop()
        else:
            if tag == "a" and 'href="' not in attrs:
                return "<a> without href"
            if tag == "blockquote" and "blockquote" in stack:
                return "nested blockquote"
            stack.append(tag)
    visible.append(text[pos:])
    if stack:
        return f"unclosed tag <{stack[-1]}>"
    plain = "".join(visible)
    for char in "<>":
        if char in plain:
            return f"unescaped {char!r}"
    if "&" in ENTITY_RE.sub("", plain):
        return "unescaped '&'"
    if utf16_len(unescape(plain)) > limit:
        return "message is too long after entity parsing"
    if not unescape(plain).strip():
        return "message text is empty after entity parsing"
    return None


def visible_text(html_text: str) -> str:
    return unescape(TAG_RE.sub("", html_text))


@dataclass
class Fault:
    kind: str  # "500", "429", "400", "drop", "badjson" (carried out, answer garbled) or "late" (answer delayed)
    count: int
    methods: frozenset[str] | None = None
    retry_after: int = 1
    delay: float = 0.0  # "late": seconds the answer is held back after the call was carried out


@dataclass
class Sent:
    """A message as the bot sent or last edited it."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: dict | None
    reply_to: int | None
    at: float = field(default_factory=time.monotonic)
    edits: int = 0


class FakeBotAPI:
    """In-process Bot API server. Use `await start()`, push updates with the user helpers, then wait on
    `wait_until(...)`; `await stop()` at the end."""

    def __init__(self, token: str, bot_id: int = 7000001, username: str = "qa_test_bot", history: bool = True) -> None:
        self.token = token
        # history=False (the soak): keep counts and each chat's last message only, so that hours of traffic
        # do not grow this server's memory (it shares the process, or the machine, with what is measured)
        self.history = history
        self.sent_count: Counter[int] = Counter()
        self.last_sent: dict[int, Sent] = {}
        self.method_counts: Counter[str] = Counter()
        self.bot_user: dict[str, Any] = {"id": bot_id, "is_bot": True, "first_name": "QA Bot", "username": username,
                         "can_join_groups": True, "can_read_all_group_messages": False,
                         "supports_inline_queries": True}
        self.updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self.sent: list[Sent] = []
        self.by_id: dict[tuple[int, int], Sent] = {}
        self.calls: list[tuple[str, dict]] = []
        self.callback_answers: list[dict] = []
        self.inline_answers: list[dict] = []
        self.commands: dict[str, list[dict]] = {}
        self.rejected: list[str] = []  # HTML problems, should stay empty
        self.faults: list[Fault] = []
        self.faults_served: dict[str, int] = {"500": 0, "429": 0, "400": 0, "drop": 0, "badjson": 0, "late": 0}
        self.chats: dict[int, dict] = {}
        self.files: dict[str, bytes] = {}  # file_id -> content, for getFile and downloads
        self.downloads: list[str] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---------------------------------------------------------------- server
    @property
    def base_url(self) -> str:
        """python-telegram-bot `base_url` form."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], T], timeout: float = 20.0) -> T:
        """Wait until `predicate()` is truthy and return its value; TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("condition not met in time")
                try:
                    await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
                except asyncio.TimeoutError:
                    pass

    def fail(self, kind: str, count: int, methods: set[str] | None = None, retry_after: int = 1,
             delay: float = 0.0) -> None:
        """Answer the next `count` matching requests with HTTP 500, 429 (retry_after), 400, a dropped
        connection, or (carrying the call out first) a body that is not JSON or an answer `delay` s late."""
        self.faults.append(Fault(kind, count, frozenset(methods) if methods else None, retry_after, delay))

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.count > 0 and (fault.methods is None or method in fault.methods):
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return await request.json()
        raw = dict(await request.post()) if request.can_read_body else {}
        raw.update(request.query)
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if not isinstance(value, str):
                continue
            if key in STRING_FIELDS:
                params[key] = value
                continue
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value
        return params

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        fault = self._take_fault(method)
        if fault is not None:
            self.faults_served[fault.kind] += 1
            if fault.kind == "drop":
                if request.transport is not None:
                    request.transport.close()
                raise asyncio.CancelledError  # aiohttp closes the connection without an answer
            if fault.kind == "429":
                return web.json_response({"ok": False, "error_code": 429,
                                          "description": f"Too Many Requests: retry after {fault.retry_after}",
                                          "parameters": {"retry_after": fault.retry_after}}, status=429)
            if fault.kind == "400":
                return self._error(400, "Bad Request: bad webhook: refused by a scheduled fault")
            if fault.kind == "500":
                return self._error(500, "Internal Server Error")
        params = await self._params(request)
        self.method_counts[method] += 1
        if self.history:
            self.calls.append((method, params))
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except _ApiError as exc:
            return self._error(exc.code, exc.description)
        finally:
            await self._notify()
        if fault is not None and fault.kind == "badjson":
            return web.Response(status=200, body=b'{"ok": true, "result": {"message_id": 1, "da',
                                content_type="application/json")
        if fault is not None and fault.kind == "late":
            await asyncio.sleep(fault.delay)
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(code: int, description: str) -> web.Response:
        return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)

    # ---------------------------------------------------------------- Bot API methods
    async def _m_getFile(self, p: dict) -> dict:
        file_id = str(p.get("file_id"))
        if file_id not in self.files:
            raise _ApiError(400, "Bad Request: invalid file_id")
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": len(self.files[file_id]),
                "file_path": f"documents/{file_id}"}

    async def _download(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        if file_id not in self.files:
            return web.Response(status=404)
        self.downloads.append(file_id)
        return web.Response(body=self.files[file_id], content_type="application/octet-stream")

    @property
    def file_base_url(self) -> str:
        """python-telegram-bot `base_file_url` form."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def document(self, user_id: int, file_name: str, data: bytes, mime_type: str = "application/octet-stream",
                 size: int | None = None, **extra: Any) -> dict:
        """Push a message with a document (its content downloadable through getFile)."""
        file_id = f"doc{len(self.files) + 1}"
        self.files[file_id] = data
        doc = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": file_name, "mime_type": mime_type,
               "file_size": len(data) if size is None else size}
        return self.message(user_id, None, document=doc, **extra)

    async def _m_getMe(self, p: dict) -> dict:
        return self.bot_user

    async def _m_deleteWebhook(self, p: dict) -> bool:
        return True

    async def _m_setWebhook(self, p: dict) -> bool:
        return True

    async def _m_setMyCommands(self, p: dict) -> bool:
        scope = json.dumps(p.get("scope") or {"type": "default"}, sort_keys=True)
        self.commands[f"{scope}|{p.get('language_code') or ''}"] = p.get("commands") or []
        return True

    async def _m_sendChatAction(self, p: dict) -> bool:
        return True

    async def _m_getUpdates(self, p: dict) -> list[dict]:
        offset = int(p.get("offset") or 0)
        timeout = float(p.get("timeout") or 0)
        limit = int(p.get("limit") or 100)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates and timeout > 0:
            deadline = time.monotonic() + timeout
            async with self._changed:
                while not self.updates and time.monotonic() < deadline:
                    try:
                        await asyncio.wait_for(self._changed.wait(), deadline - time.monotonic())
                    except asyncio.TimeoutError:
                        break
        return self.updates[:limit]

    def _check_html(self, text: Any, parse_mode: Any) -> str:
        if not isinstance(text, str):
            text = str(text)
        if parse_mode == "HTML":
            problem = html_problem(text)
            if problem:
                self.rejected.append(f"{problem}: {text[:200]!r}")
                raise _ApiError(400, f"Bad Request: can't parse entities: {problem}")
        elif not text.strip() or utf16_len(text) > 4096:
            self.rejected.append(f"bad plain text: {text[:200]!r}")
            raise _ApiError(400, "Bad Request: message text is empty or too long")
        return text

    def _message_json(self, sent: Sent) -> dict:
        chat = self.chats.get(sent.chat_id, {"id": sent.chat_id, "type": "private", "first_name": "User"})
        message = {"message_id": sent.message_id, "date": int(time.time()), "chat": chat, "from": self.bot_user,
                   "text": visible_text(sent.text)}
        if sent.reply_markup:
            message["reply_markup"] = sent.reply_markup
        if sent.edits:
            message["edit_date"] = int(time.time())
        return message

    async def _m_sendMessage(self, p: dict) -> dict:
        chat_id = int(p["chat_id"])
        text = self._check_html(p.get("text", ""), p.get("parse_mode"))
        reply = p.get("reply_parameters") or {}
        sent = Sent(chat_id, next(self._message_ids), text, p.get("reply_markup"),
                    reply.get("message_id") if isinstance(reply, dict) else None)
        self.sent_count[chat_id] += 1
        self.last_sent[chat_id] = sent
        self.by_id[(chat_id, sent.message_id)] = sent
        if self.history:
            self.sent.append(sent)
        elif len(self.by_id) > 10_000:  # only recent messages can still be edited
            for key in list(self.by_id)[:5_000]:
                del self.by_id[key]
        return self._message_json(sent)

    def _find(self, p: dict) -> Sent:
        key = (int(p.get("chat_id", 0)), int(p.get("message_id", 0)))
        if key not in self.by_id:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return self.by_id[key]

    async def _m_editMessageText(self, p: dict) -> dict | bool:
        text = self._check_html(p.get("text", ""), p.get("parse_mode"))
        if p.get("inline_message_id"):
            return True
        sent = self._find(p)
        sent.text, sent.reply_markup, sent.edits = text, p.get("reply_markup"), sent.edits + 1
        return self._message_json(sent)

    async def _m_editMessageReplyMarkup(self, p: dict) -> dict | bool:
        if p.get("inline_message_id"):
            return True
        sent = self._find(p)
        sent.reply_markup, sent.edits = p.get("reply_markup"), sent.edits + 1
        return self._message_json(sent)

    async def _m_answerCallbackQuery(self, p: dict) -> bool:
        if self.history:
            self.callback_answers.append(p)
        return True

    async def _m_answerInlineQuery(self, p: dict) -> bool:
        for result in p.get("results") or []:
            content = result.get("input_message_content") or {}
            self._check_html(content.get("message_text", ""), content.get("parse_mode"))
        if self.history:
            self.inline_answers.append(p)
        return True

    # ---------------------------------------------------------------- the user side
    @staticmethod
    def user(user_id: int, language_code: str | None = "de") -> dict:
        user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        if language_code:
            user["language_code"] = language_code
        return user

    def _push(self, kind: str, payload: dict) -> int:
        update_id = next(self._update_ids)
        self.updates.append({"update_id": update_id, kind: payload})
        asyncio.get_running_loop().create_task(self._notify())
        return update_id

    def message(self, user_id: int, text: str | None = None, *, chat_id: int | None = None,
                chat_type: str = "private", language_code: str | None = "de", entities: list | None = None,
                reply_to: Sent | None = None, edited: bool = False, **extra: Any) -> dict:
        """Push a message (or, with `edited`, an edited message) from a user; returns the message."""
        chat_id = user_id if chat_id is None else chat_id
        chat = ({"id": chat_id, "type": "private", "first_name": f"User{user_id}"} if chat_type == "private"
                else {"id": chat_id, "type": chat_type, "title": "Test group"})
        self.chats[chat_id] = chat
        message: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat,
                                   "from": self.user(user_id, language_code)}
        if text is not None:
            message["text"] = text
        if entities:
            message["entities"] = entities
        if reply_to is not None:
            message["reply_to_message"] = self._message_json(reply_to)
        if edited:
            message["edit_date"] = int(time.time())
        message.update(extra)
        self._push("edited_message" if edited else "message", message)
        return message

    def mention(self, user_id: int, chat_id: int, question: str, language_code: str | None = "de") -> dict:
        """A group message that mentions the bot: '@username question'."""
        handle = "@" + self.bot_user["username"]
        return self.message(user_id, f"{handle} {question}", chat_id=chat_id, chat_type="supergroup",
                            language_code=language_code,
                            entities=[{"type": "mention", "offset": 0, "length": utf16_len(handle)}])

    def command(self, user_id: int, command: str, *, chat_id: int | None = None, chat_type: str = "private",
                language_code: str | None = "de") -> dict:
        name = command.split()[0]
        return self.message(user_id, command, chat_id=chat_id, chat_type=chat_type, language_code=language_code,
                            entities=[{"type": "bot_command", "offset": 0, "length": utf16_len(name)}])

    def press(self, user_id: int, sent: Sent, data: str, language_code: str | None = "de") -> str:
        """Press an inline button with callback `data` under the bot message `sent`; returns the query id."""
        query_id = f"cq{next(self._query_ids)}"
        self._push("callback_query", {"id": query_id, "from": self.user(user_id, language_code),
                                      "chat_instance": "ci", "data": data, "message": self._message_json(sent)})
        return query_id

    def inline_query(self, user_id: int, query: str, language_code: str | None = "de") -> str:
        query_id = f"iq{next(self._query_ids)}"
        self._push("inline_query", {"id": query_id, "from": self.user(user_id, language_code), "query": query,
                                    "offset": ""})
        return query_id

    # ---------------------------------------------------------------- reading what the bot did
    def sent_to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]

    def methods(self) -> list[str]:
        return [m for m, _ in self.calls]


class _ApiError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description
