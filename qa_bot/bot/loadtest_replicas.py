"""`qa-bot loadtest --replicas N`: N users x M questions through N real `qa-bot serve` processes in webhook
mode sharing the PostgreSQL database of `QA_BOT_DATABASE_URL`, behind a fake Telegram that delivers
updates round-robin (`replicas.RoundRobinWebhooks`). Reply latency is question pushed → reply received by
the fake Telegram. Everything runs on this machine: with fewer cores than replicas they compete for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from ..bench.stats import percentile
from ..errors import SettingsError
from .loadtest import QUESTIONS, _more_sent


async def _drive(replicas: int, users: int, questions: int, timeout: float, env: dict[str, str]) -> dict[str, Any]:
    from ..devtools.fake_api import FakeBotAPI
    from .replicas import RoundRobinWebhooks, start_replicas, stop_replicas, wait_listening

    token = f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}"
    secret = secrets.token_urlsafe(24)
    api = FakeBotAPI(token)
    await api.start()
    env = {**env, "TELEGRAM_BOT_TOKEN": token, "QA_BOT_TELEGRAM_BASE_URL": api.base_url,
           "QA_BOT_RATE_LIMIT": str(10**6), "QA_BOT_ALLOWED_IDS": "", "QA_BOT_LOG_FORMAT": "text"}
    load_before = os.getloadavg()[0]
    latencies: list[float] = []
    timed_out = 0
    with tempfile.TemporaryDirectory(prefix="qa-bot-replicas-") as tmp:
        procs = start_replicas(replicas, env, Path(tmp), secret)
        delivery = RoundRobinWebhooks(api, [r.url for r in procs], secret)
        try:
            await wait_listening(procs)
            await api.wait_until(lambda: api.methods().count("setWebhook") == replicas, 120)
            await delivery.start()

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

            began = time.perf_counter()
            await asyncio.gather(*(user(n) for n in range(users)))
            wall = time.perf_counter() - began
            with contextlib.suppress(TimeoutError):  # acknowledgements follow the replies
                await api.wait_until(lambda: delivery.acked() >= len(latencies), 30)
            per_replica = [sum(1 for d in delivery.deliveries.values() if d.acked_by == r.index) for r in procs]
        finally:
            await delivery.stop()
            stop_replicas(procs)
            await api.stop()
    return {"replicas": replicas, "users": users, "questions_per_user": questions, "asked": users * questions,
            "replied": len(latencies), "timed_out": timed_out, "per_replica": per_replica,
            "p50_ms": round(percentile(latencies, 50), 1), "p95_ms": round(percentile(latencies, 95), 1),
            "wall_s": round(wall, 2), "questions_per_s": round(len(latencies) / wall, 1) if wall else None,
            "html_rejected": len(api.rejected), "backend": env.get("QA_BOT_BACKEND", "?"), "cpus": os.cpu_count(),
            "loadavg_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def run_replica_loadtest(replicas: int, users: int, questions: int, timeout: float = 300.0,
                         **overrides: Any) -> dict[str, Any]:
    from ..settings import load_settings

    settings = load_settings(**overrides)
    if not settings.database_url:
        raise SettingsError("--replicas needs QA_BOT_DATABASE_URL: replicas share their index and state there.")
    env = dict(os.environ)
    for name, value in overrides.items():  # CLI flags reach the replicas as their variables
        if value is not None:
            from ..settings import SETTINGS_BY_NAME

            env[SETTINGS_BY_NAME[name].env] = str(value)
    from ..service import QAService

    QAService(settings).open(build_if_missing=True, load_model=False)  # one index for all replicas
    return asyncio.run(_drive(replicas, users, questions, timeout, env))


def format_replica_report(r: dict[str, Any]) -> str:
    return (f"{r['replicas']} replica(s), {r['users']} users x {r['questions_per_user']} questions = "
            f"{r['asked']} asked ({r['backend']} backend)\n"
            f"replied {r['replied']} (timed out {r['timed_out']}, HTML rejected {r['html_rejected']}); updates per "
            f"replica {r['per_replica']}\n"
            f"reply latency p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms; {r['questions_per_s']} questions/s over "
            f"{r['wall_s']} s; load average {r['loadavg_1m'][0]} -> {r['loadavg_1m'][1]} on {r['cpus']} CPUs")
