"""Load benchmark (not a test): N simulated users each ask M questions, one after another, through the
real bot Application polling a local fake Bot API server on 127.0.0.1. Reports how many questions got
answered, p50/p95 reply latency (question pushed → reply received by the server) and peak memory.

Everything runs in one process, so the server's own work competes with the bot: figures are an upper
bound on what the bot alone needs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import resource
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..bench.stats import percentile

QUESTIONS = (
    ("de", "Wie heißt der nationale Sicherheitsberater der USA?"),
    ("de", "In welche russische Region wurden die nordkoreanischen Truppen verlegt?"),
    ("en", "What did Joe Biden say about Ukraine?"),
    ("de", "Wann fährt der nächste Zug nach Hamburg?"),
    ("de", "Was sagte Selenskyj über die nordkoreanischen Soldaten?"),
    ("de", "Welche Sanktionen gegen Russland wurden geplant?"),
)


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _more_sent(api: Any, uid: int, before: int) -> bool:
    return len(api.sent_to(uid)) > before


async def _drive(users: int, questions: int, timeout: float, settings_overrides: dict[str, Any]) -> dict[str, Any]:
    from ..devtools.fake_api import FakeBotAPI
    from ..service import QAService
    from ..settings import load_settings
    from .app import build_application, run_bot

    load_before = os.getloadavg()[0]
    token = f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}"
    api = FakeBotAPI(token)
    await api.start()
    tmp = tempfile.TemporaryDirectory(prefix="qa-bot-load-")
    settings = load_settings(**settings_overrides).with_overrides(
        telegram_token=token, telegram_base_url=api.base_url, bot_state=Path(tmp.name) / "state.sqlite3",
        health_port=0, reload_interval=0.0, rate_limit=10**6, allowed_ids=frozenset())
    began_load = time.perf_counter()
    service = QAService(settings)
    service.open(build_if_missing=True)
    load_seconds = time.perf_counter() - began_load
    app = build_application(settings, service)
    stop = asyncio.Event()
    bot = asyncio.create_task(run_bot(app, stop, poll_timeout=5))
    latencies: list[float] = []
    timed_out = 0

    async def user(n: int) -> None:
        nonlocal timed_out
        uid = 100000 + n
        for m in range(questions):
            lang, text = QUESTIONS[(n + m) % len(QUESTIONS)]
            before = len(api.sent_to(uid))
            began = time.perf_counter()
            api.message(uid, text, language_code=lang)
            try:
                await api.wait_until(functools.partial(_more_sent, api, uid, before), timeout)
            except TimeoutError:
                timed_out += 1
                return
            latencies.append((time.perf_counter() - began) * 1000)

    try:
        await api.wait_until(lambda: "getUpdates" in api.methods(), 60)
        began = time.perf_counter()
        await asyncio.gather(*(user(n) for n in range(users)))
        wall = time.perf_counter() - began
    finally:
        stop.set()
        await bot
        await api.stop()
        tmp.cleanup()
    core_counts = app.bot_data["core"].counts
    return {
        "users": users, "questions_per_user": questions, "asked": users * questions,
        "replied": len(latencies), "timed_out": timed_out,
        "answered": core_counts["answered"], "unanswered": core_counts["unanswered"],
        "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
        "wall_s": round(wall, 2), "questions_per_s": round(len(latencies) / wall, 1) if wall else None,
        "peak_rss_mib": round(_peak_rss_mib(), 1), "startup_s": round(load_seconds, 2),
        "backend": settings.backend, "model": settings.model_name, "passages": service.info().passages,
        "html_rejected": len(api.rejected), "cpus": os.cpu_count(),
        "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # other work on the machine
    }


def run_loadtest(users: int, questions: int, timeout: float = 300.0, **overrides: Any) -> dict[str, Any]:
    """Run the benchmark and return its figures (see `format_report`)."""
    logging.basicConfig(level=logging.WARNING)
    quiet = logging.getLogger("qa_bot")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # one log line per question would cost more than the questions
    try:
        return asyncio.run(_drive(users, questions, timeout, overrides))
    finally:
        quiet.setLevel(level)


def format_report(r: dict[str, Any]) -> str:
    return (f"{r['users']} users x {r['questions_per_user']} questions = {r['asked']} asked "
            f"({r['backend']}, {r['model']}, {r['passages']} passages)\n"
            f"replied {r['replied']} (answered {r['answered']}, nothing found {r['unanswered']}, "
            f"timed out {r['timed_out']}, HTML rejected {r['html_rejected']})\n"
            f"reply latency p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, max {r['max_ms']} ms; "
            f"{r['questions_per_s']} questions/s over {r['wall_s']} s\n"
            f"peak RSS {r['peak_rss_mib']} MiB (model and index load {r['startup_s']} s); "
            f"load average {r['loadavg_1m'][0]} -> {r['loadavg_1m'][1]} on {r['cpus']} CPUs")
