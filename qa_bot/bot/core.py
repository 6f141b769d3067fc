"""What the Telegram handlers share, free of `telegram` imports: the service, the button store, fair
use, access rules, counters, and turning a question into ready-to-send HTML pages.

Searches run in a small thread pool, off the event loop, so one slow question never stalls other chats.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from ..errors import QABotError, QuestionError
from ..service import QAService
from ..settings import Settings
from ..types import Answer, IndexInfo, SearchResult
from .html import render_results
from .i18n import t
from .metrics import Metrics
from .ratelimit import RateLimiter
from .state import BotState, more_data

log = logging.getLogger("qa_bot.bot")

MAX_PAGES = 10  # "more" stops after this many pages of passages
T = TypeVar("T")


def search_workers() -> int:
    """Threads for concurrent searches: the core count, at least 2 (one slow question never blocks all)."""
    return max(2, min(4, os.cpu_count() or 1))


@dataclass
class Page:
    """One reply: HTML messages to send in order, and the callback data of a "more" button if any."""

    messages: list[str]
    answered: bool
    more: str | None = None
    results: list[SearchResult] = field(default_factory=list)
    answer_id: int | None = None  # for the 👍 / 👎 buttons: the page as stored in the bot state


class BotCore:
    """State shared by all handlers of one Application (kept in `application.bot_data["core"]`)."""

    def __init__(self, settings: Settings, service: QAService, state: BotState) -> None:
        self.settings = settings
        self.service = service
        self.state = state
        self.limiter = RateLimiter(settings.bot.rate_limit)
        self.started = time.monotonic()
        self.started_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.counts: Counter[str] = Counter()
        self.transport_running = False
        self._poll_error: tuple[str, float] = ("", 0.0)
        self.reload_error: str | None = None  # why the last hot reload failed, until one succeeds
        self.search_error: str | None = None  # why the last search failed, until one succeeds
        # Searches are CPU-bound and the model uses several threads itself: a small pool beats asyncio's
        # default (cpu+4 threads), which oversubscribes small machines (measured: 2 workers 136 ms per
        # question vs 6 workers 213 ms on 2 cores, USE backend).
        self.executor = ThreadPoolExecutor(max_workers=search_workers(), thread_name_prefix="qa-search")
        self.metrics = Metrics(self._index_figures)
        self.adding_source = asyncio.Lock()  # admins' sources are indexed one at a time

    def _index_figures(self) -> tuple[int, str]:
        info = self.service.info()
        return info.passages, info.generation

    # ------------------------------------------------------------------ transport
    def unparseable(self, update_id: int) -> None:
        """An update python-telegram-bot cannot read was skipped (logged by the client)."""
        self.counts["skipped_updates"] += 1

    def polling_failed(self, exc: Exception) -> None:
        """getUpdates failed (polling retries it by itself): one line per distinct error and minute."""
        message, now = str(exc) or type(exc).__name__, time.monotonic()
        last, at = self._poll_error
        if message != last or now - at > 60:
            log.warning("getUpdates failed (%s); polling goes on retrying", message)
            self._poll_error = (message, now)

    def reload_ok(self) -> None:
        if self.reload_error is not None:
            log.info("hot reload works again")
            self.reload_error = None

    def reload_failed(self, exc: Exception) -> None:
        """Log a failing hot reload once per distinct error, not at every interval."""
        message = str(exc) if isinstance(exc, QABotError) else f"{type(exc).__name__}: {exc}"
        if message != self.reload_error:
            log.warning("hot reload failed; still serving the previous index: %s", message)
            self.reload_error = message

    # ------------------------------------------------------------------ access
    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.bot.admin_ids

    def is_allowed(self, user_id: int | None, chat_id: int | None) -> bool:
        allowed = self.settings.bot.allowed_ids
        if not allowed:
            return True
        return (user_id in allowed) or (chat_id in allowed) or self.is_admin(user_id)

    # ------------------------------------------------------------------ questions
    async def ask(self, question: str, lang: str, chat_type: str, offset: int = 0) -> Page:
        """Search off the event loop and render one page; logs one structured line per question."""
        k = self.settings.top_k
        began = time.perf_counter()
        try:
            answer, key, answer_id = await self._off_loop(self._search, question, lang, k, offset)
        except QuestionError:
            self._log(chat_type, lang, question, began, "no_words", 0, offset)
            return Page([t("no_words", lang, example=t("example", lang))], answered=False)
        except QABotError as exc:
            self._search_failed(exc)
            self.metrics.question("error")
            return Page([t("error", lang)], answered=False)
        self.search_error = None
        shown = answer.results[:k]
        if not answer.answered or not shown:
            self._log(chat_type, lang, question, began, "no" if offset == 0 else "no_more", 0, offset)
            return Page([t("nothing_found" if offset == 0 else "no_more", lang)], answered=False,
                        answer_id=answer_id)
        more = None
        if len(answer.results) > k and offset + k < k * MAX_PAGES:
            more = more_data(key, offset + k)
        self._log(chat_type, lang, question, began, "yes", len(shown), offset)
        return Page(render_results(shown, lang), answered=True, more=more, results=shown, answer_id=answer_id)

    def _search_failed(self, exc: QABotError) -> None:
        self.counts["errors"] += 1
        if str(exc) != self.search_error:
            log.error("search failed: %s", exc)
            self.search_error = str(exc)

    async def _off_loop(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, func, *args)

    def close(self) -> None:
        """Release the search threads and the state file."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.state.close()

    def _search(self, question: str, lang: str, k: int, offset: int) -> tuple[Answer, str, int | None]:
        answer = self.service.search(question, k + 1, offset)  # one extra tells whether "more" has anything
        key = ""
        answer_id = None
        try:
            if answer.answered and len(answer.results) > k:
                key = self.state.put_question(question, lang)
            shown = answer.results[:k] if answer.answered else []
            if shown or offset == 0:  # a rated "nothing found" is a miss worth knowing about too
                answer_id = self.state.record_answer(question, lang, offset, bool(shown), [
                    {"rank": r.rank, "passage_id": r.passage_id, "doc_id": r.source.doc_id,
                     "paragraph": r.source.paragraph, "title": r.source.title, "score": round(float(r.score), 4),
                     "text": r.text} for r in shown])
        except Exception as exc:  # noqa: BLE001 - SQLite or PostgreSQL: the answer matters more than its buttons
            log.warning("could not store the question for its buttons: %s", exc)
        return answer, key, answer_id

    def _log(self, chat_type: str, lang: str, question: str, began: float, answered: str, results: int,
             offset: int) -> None:
        seconds = time.perf_counter() - began
        self.counts["questions"] += 1
        self.counts["answered" if answered == "yes" else "unanswered"] += 1
        self.metrics.question("answered" if answered == "yes" else "abstained", seconds)
        log.info("question chat_type=%s lang=%s chars=%d offset=%d latency_ms=%.1f answered=%s results=%d",
                 chat_type, lang, len(question), offset, seconds * 1000, answered, results)
        log.debug("question text=%r", question)  # the text itself only at debug level

    async def inline_results(self, question: str, lang: str) -> list[SearchResult]:
        """Top passages for inline mode (no pages, no buttons); empty when nothing fits or no words."""
        began = time.perf_counter()
        try:
            answer = await self._off_loop(self.service.search, question, self.settings.top_k)
        except QuestionError:
            self.metrics.question("abstained")
            return []
        except QABotError as exc:
            self._search_failed(exc)
            self.metrics.question("error")
            return []
        self.search_error = None
        results = answer.results if answer.answered else []
        self._log("inline", lang, question, began, "yes" if results else "no", len(results), 0)
        return results

    # ------------------------------------------------------------------ health and stats
    def health(self) -> dict[str, Any]:
        """The health endpoint's body: status, index size and build time, uptime, counters."""
        info: IndexInfo | None = None
        try:
            info = self.service.info()
        except Exception as exc:
            error = type(exc).__name__
        ok = info is not None and self.transport_running and not self.reload_error and not self.search_error
        problems = {key: value for key, value in (("reload_error", self.reload_error),
                                                  ("search_error", self.search_error)) if value}
        return {
            "status": "ok" if ok else "degraded",
            **problems,
            "uptime_s": round(time.monotonic() - self.started, 1),
            "started_at": self.started_at,
            "telegram": "running" if self.transport_running else "stopped",
            "index": {"passages": info.passages, "documents": info.documents, "built_at": info.built_at,
                      "generation": info.generation, "backend": info.backend, "model": info.model}
            if info is not None else {"error": error},
            "questions": self.counts["questions"],
            "answered": self.counts["answered"],
            "errors": self.counts["errors"],
            **self._all_replicas(),
        }

    def _all_replicas(self) -> dict[str, Any]:
        """With a shared database: the counters of every replica (this one's published first)."""
        if not getattr(self.state, "shared", False):
            return {}
        try:
            self.state.publish(dict(self.counts))  # type: ignore[attr-defined]
            return {"all_replicas": self.state.totals()}  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - health must answer even when the database does not
            return {"all_replicas": {"error": type(exc).__name__}}
