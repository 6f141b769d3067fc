"""Prometheus metrics of one bot process, served at /metrics on the health port (prometheus-client).

Exactly these families, in a registry of their own (no process or platform collectors):

- `qa_bot_questions_total{outcome}`: each question, "More" press and inline query, by outcome:
  `answered`, `abstained` (nothing relevant, or no words), `refused` (not on the allow-list),
  `rate_limited`, `error`;
- `qa_bot_answer_seconds`: time from question to rendered answer (search and rendering, not sending);
- `qa_bot_index_passages` and `qa_bot_index_generation_info{generation}`: the index being served;
- `qa_bot_reloads_total{result}`: hot reloads that switched to a new index (`ok`) or failed (`failed`);
- `qa_bot_telegram_errors_total{error}`: Bot API calls that failed for good, by error class;
- `qa_bot_telegram_retries_total`: Bot API calls sent again (429 waits, network errors, 5xx).

No label ever holds a question, a user or a chat: metrics are for dashboards, not for tracing people.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # no `*_created` series: only the families listed above

OUTCOMES = ("answered", "abstained", "refused", "rate_limited", "error")
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The bot's metrics; `index_info` is read at scrape time, so the index figures are never stale."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, index_info: Callable[[], tuple[int, str]] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.questions = Counter("qa_bot_questions", "Questions (and More presses, inline queries) by outcome.",
                                 ["outcome"], registry=self.registry)
        for outcome in OUTCOMES:  # every series exists from the start, at 0
            self.questions.labels(outcome)
        self.answer_seconds = Histogram("qa_bot_answer_seconds", "Seconds from question to rendered answer.",
                                        buckets=LATENCY_BUCKETS, registry=self.registry)
        self.passages = Gauge("qa_bot_index_passages", "Passages in the index being served.", registry=self.registry)
        self.generation = Info("qa_bot_index_generation", "Generation of the index being served.",
                               registry=self.registry)
        self.reloads = Counter("qa_bot_reloads", "Hot reloads by result.", ["result"], registry=self.registry)
        for result in ("ok", "failed"):
            self.reloads.labels(result)
        self.telegram_errors = Counter("qa_bot_telegram_errors", "Bot API calls that failed for good, by error.",
                                       ["error"], registry=self.registry)
        self.telegram_retries = Counter("qa_bot_telegram_retries", "Bot API calls sent again after a failure.",
                                        registry=self.registry)
        self._index_info = index_info

    def question(self, outcome: str, seconds: float | None = None) -> None:
        self.questions.labels(outcome).inc()
        if seconds is not None:
            self.answer_seconds.observe(seconds)

    def render(self) -> bytes:
        """The exposition text; refreshes the index figures first."""
        if self._index_info is not None:
            try:
                passages, generation = self._index_info()
                self.passages.set(passages)
                self.generation.info({"generation": generation})
            except Exception:  # noqa: BLE001 - a scrape must answer even while the index is unreadable
                pass
        return generate_latest(self.registry)
