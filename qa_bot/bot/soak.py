"""Soak test of the long-lived service (`qa-bot loadtest --duration N`): a real `qa-bot serve` process
polls a local fake Bot API server (127.0.0.1) for N seconds while simulated users keep asking, pressing
"More" and sending commands, and (by default) Telegram keeps failing now and then: 500s, 429s, dropped
connections, answers that come too late or garbled.

The bot runs in its own process, so what is measured is the bot alone: its resident memory, open file
descriptors and threads (from the operating system), sampled every `interval` seconds together with the
reply latency (request pushed to the server → reply received by it) of that window. At the end every
request must have exactly one reply: `lost` counts requests without one, `duplicated` extra replies.
The first window is the warm-up; growth is measured from its end to the end of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..bench.stats import percentile
from .loadtest import QUESTIONS

FAULTS: tuple[tuple[str, int, frozenset[str] | None, dict[str, Any]], ...] = (
    ("500", 3, frozenset({"sendMessage"}), {}),
    ("429", 1, frozenset({"sendMessage"}), {"retry_after": 1}),
    ("drop", 2, frozenset({"sendMessage", "getUpdates"}), {}),
    ("late", 1, frozenset({"sendMessage"}), {"delay": 6.0}),  # past the bot's 5 s read timeout
    ("badjson", 1, frozenset({"sendMessage"}), {}),
    ("500", 2, frozenset({"getUpdates"}), {}),
)


@dataclass
class Sample:
    """One window of the run, measured at its end."""

    t_s: float
    rss_mib: float
    open_files: int
    threads: int
    replies: int
    p50_ms: float | None
    p95_ms: float | None
    health: str


def _count_above(counts: Any, uid: int, before: int) -> bool:
    return counts[uid] > before


def parse_duration(text: str) -> float:
    """Seconds from `90`, `90s`, `30m` or `2h`."""
    text = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(text[-1:], None)
    number = float(text[:-1] if scale else text)
    if number <= 0:
        raise ValueError("must be more than 0")
    return number * (scale or 1)


def process_figures(pid: int) -> tuple[float, int, int]:
    """(resident MiB, open file descriptors, OS threads) of process `pid`."""
    try:
        import psutil

        proc = psutil.Process(pid)
        return proc.memory_info().rss / 2**20, proc.num_fds(), proc.num_threads()
    except ImportError:
        status = Path(f"/proc/{pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        rss_kib = int(fields["VmRSS"].split()[0])
        return rss_kib / 1024, len(os.listdir(f"/proc/{pid}/fd")), int(fields["Threads"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _health(port: int) -> str:
    import aiohttp

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            async with session.get(f"http://127.0.0.1:{port}/health") as response:
                return str((await response.json()).get("status"))
    except Exception as exc:  # noqa: BLE001 - a failed probe is a figure, not a crash
        return f"unreachable ({type(exc).__name__})"


async def _soak(duration: float, users: int, think: float, interval: float, faults: bool, timeout: float,
                log_path: Path | None, overrides: dict[str, Any]) -> dict[str, Any]:
    from ..devtools.fake_api import FakeBotAPI
    from ..service import QAService
    from ..settings import load_settings

    settings = load_settings(**overrides)
    service = QAService(settings)
    service.open(build_if_missing=True, load_model=False)  # `serve` never builds an index itself
    passages = service.info().passages
    del service

    token = f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(24)}"
    api = FakeBotAPI(token, history=False)
    await api.start()
    tmp = tempfile.TemporaryDirectory(prefix="qa-bot-soak-")
    log_file = log_path or Path(tmp.name) / "serve.log"
    health_port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_BOT_", "TELEGRAM_"))}
    env.update({"TELEGRAM_BOT_TOKEN": token, "QA_BOT_TELEGRAM_BASE_URL": api.base_url,
                "QA_BOT_STATE_FILE": str(Path(tmp.name) / "state.sqlite3"), "QA_BOT_HEALTH_PORT": str(health_port),
                "QA_BOT_RATE_LIMIT": "1000000", "QA_BOT_BACKEND": settings.backend,
                "QA_BOT_INDEX_DIR": str(settings.index_dir), "QA_BOT_ARTICLES_DIR": str(settings.articles_dir)})
    if settings.model:
        env["QA_BOT_MODEL"] = settings.model
    if settings.min_score is not None:
        env["QA_BOT_MIN_SCORE"] = str(settings.min_score)
    with open(log_file, "wb") as log_out:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "qa_bot.cli", "serve", env=env,
                                                    stdout=log_out, stderr=subprocess.STDOUT)
    rng = random.Random(11)
    expected: dict[int, int] = {}
    latencies: list[float] = []  # the current window's
    all_latencies: list[float] = []
    timeouts = 0
    samples: list[Sample] = []
    began = time.monotonic()
    try:
        await api.wait_until(lambda: api.method_counts["getUpdates"] > 0 or proc.returncode is not None, 600)
        if proc.returncode is not None:
            raise RuntimeError(f"qa-bot serve exited with code {proc.returncode}; see {log_file}")
        began = time.monotonic()
        deadline = began + duration

        async def user(n: int) -> None:
            nonlocal timeouts
            uid = 300_000 + n
            pick = random.Random(n)
            pressed: set[int] = set()
            while time.monotonic() < deadline:
                before = api.sent_count[uid]
                last = api.last_sent.get(uid)
                roll = pick.random()
                started = time.perf_counter()
                more = [b["callback_data"] for row in (last.reply_markup or {}).get("inline_keyboard", [])
                        for b in row if b.get("callback_data", "").startswith("m:")] if last else []
                if roll < 0.1 and last and more and last.message_id not in pressed:  # "More" sends a message
                    pressed.add(last.message_id)
                    api.press(uid, last, more[0])
                elif roll < 0.15:
                    api.command(uid, "/help")
                else:
                    lang, text = QUESTIONS[pick.randrange(len(QUESTIONS))]
                    api.message(uid, text, language_code=lang)
                expected[uid] = expected.get(uid, 0) + 1
                try:
                    await api.wait_until(functools.partial(_count_above, api.sent_count, uid, before), timeout)
                except TimeoutError:
                    timeouts += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if think:
                    await asyncio.sleep(think)

        async def sample() -> None:
            window = latencies[:]
            latencies.clear()
            all_latencies.extend(window)
            rss, fds, threads = process_figures(proc.pid)
            samples.append(Sample(round(time.monotonic() - began, 1), round(rss, 1), fds, threads, len(window),
                                  round(percentile(window, 50), 1) if window else None,
                                  round(percentile(window, 95), 1) if window else None,
                                  await _health(health_port)))

        async def sampler() -> None:
            while True:
                await asyncio.sleep(interval)
                await sample()

        async def fault_injector() -> None:
            period = min(30.0, max(2.0, duration / 20))
            while True:
                await asyncio.sleep(period * rng.uniform(0.5, 1.5))
                kind, count, methods, extra = rng.choice(FAULTS)
                api.fail(kind, count, set(methods) if methods else None, **extra)

        helpers = [asyncio.create_task(sampler())]
        if faults:
            helpers.append(asyncio.create_task(fault_injector()))
        try:
            await asyncio.gather(*(user(n) for n in range(users)))
        finally:
            for task in helpers:
                task.cancel()
            api.faults.clear()
        if latencies or not samples:
            await sample()  # the last, shorter window: the figures at the very end
        wall = time.monotonic() - began
        quiet_since = time.monotonic()  # let late replies land before counting
        total = sum(api.sent_count.values())
        while time.monotonic() - quiet_since < 3 and time.monotonic() - began - wall < 30:
            await asyncio.sleep(0.5)
            if sum(api.sent_count.values()) != total:
                total, quiet_since = sum(api.sent_count.values()), time.monotonic()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        await api.stop()
    log_text = log_file.read_text("utf-8", "replace")
    lost = sum(max(0, want - api.sent_count[uid]) for uid, want in expected.items())
    duplicated = sum(max(0, api.sent_count[uid] - want) for uid, want in expected.items())
    start, end = (samples[0], samples[-1]) if samples else (None, None)
    report = {
        "duration_s": round(wall, 1), "users": users, "think_s": think, "interval_s": interval, "faults": faults,
        "backend": settings.backend, "model": settings.model_name, "passages": passages,
        "requests": sum(expected.values()), "replies": sum(api.sent_count[uid] for uid in expected),
        "lost": lost, "duplicated": duplicated, "timed_out": timeouts, "html_rejected": len(api.rejected),
        "faults_served": {k: v for k, v in api.faults_served.items() if v},
        "p50_ms": round(percentile(all_latencies, 50), 1) if all_latencies else None,
        "p95_ms": round(percentile(all_latencies, 95), 1) if all_latencies else None,
        "mean_ms": round(statistics.fmean(all_latencies), 1) if all_latencies else None,
        "start": asdict(start) if start else None, "end": asdict(end) if end else None,
        "rss_growth_pct": round((end.rss_mib - start.rss_mib) / start.rss_mib * 100, 2) if start and end else None,
        "health_not_ok": sum(s.health != "ok" for s in samples),
        "exit_code": proc.returncode, "log_lines": log_text.count("\n"), "log_bytes": len(log_text.encode()),
        "log_warnings": log_text.count(" WARNING "), "log_errors": log_text.count(" ERROR "),
        "log_tracebacks": log_text.count("Traceback"), "log_file": str(log_path) if log_path else None,
        "samples": [asdict(s) for s in samples], "cpus": os.cpu_count(),
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
    }
    with contextlib.suppress(OSError):
        tmp.cleanup()
    return report


def run_soak(duration: float, users: int = 5, think: float = 0.2, interval: float | None = None,
             faults: bool = True, timeout: float = 120.0, log_path: Path | None = None,
             **overrides: Any) -> dict[str, Any]:
    """Run the soak and return its figures (see `format_soak`)."""
    interval = interval or max(2.0, min(60.0, duration / 10))
    # The fake server logs a traceback whenever the bot drops a connection on purpose (timeouts): noise.
    server_log = logging.getLogger("aiohttp.server")
    level = server_log.level
    server_log.setLevel(logging.CRITICAL)
    try:
        return asyncio.run(_soak(duration, users, think, interval, faults, timeout, log_path, overrides))
    finally:
        server_log.setLevel(level)


def format_soak(r: dict[str, Any]) -> str:
    lines = [f"soak: {r['users']} users for {r['duration_s']} s ({r['backend']}, {r['model']}, {r['passages']} "
             f"passages), faults {'on' if r['faults'] else 'off'}",
             "     t_s  RSS MiB  files  threads  replies   p50 ms   p95 ms  health"]
    for s in r["samples"]:
        lines.append(f"{s['t_s']:>8} {s['rss_mib']:>8} {s['open_files']:>6} {s['threads']:>8} {s['replies']:>8} "
                     f"{s['p50_ms']!s:>8} {s['p95_ms']!s:>8}  {s['health']}")
    start, end = r["start"], r["end"]
    if start and end:
        lines.append(f"after warm-up -> end: RSS {start['rss_mib']} -> {end['rss_mib']} MiB "
                     f"({r['rss_growth_pct']:+.2f} %), open files {start['open_files']} -> {end['open_files']}, "
                     f"threads {start['threads']} -> {end['threads']}, p50 {start['p50_ms']} -> {end['p50_ms']} ms, "
                     f"p95 {start['p95_ms']} -> {end['p95_ms']} ms")
    lines.append(f"requests {r['requests']}, replies {r['replies']}: lost {r['lost']}, duplicated {r['duplicated']}, "
                 f"late (> timeout) {r['timed_out']}, HTML rejected {r['html_rejected']}; "
                 f"faults served {r['faults_served'] or 'none'}")
    lines.append(f"whole run: p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms; /health not ok in {r['health_not_ok']} "
                 f"of {len(r['samples'])} samples; serve exit code {r['exit_code']}; log {r['log_lines']} lines "
                 f"({r['log_warnings']} warnings, {r['log_errors']} errors, {r['log_tracebacks']} tracebacks)")
    return "\n".join(lines)
