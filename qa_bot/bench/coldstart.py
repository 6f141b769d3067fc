"""Fresh processes: launch to first printed answer of `qa-bot ask`, peak RSS, what got imported, and
the resident memory of a long-running process (the bot) once idle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .stats import percentile

HEAVY_MODULES = ("torch", "transformers", "sentence_transformers", "telegram", "tensorflow", "matplotlib")


def qa_bot_command() -> list[str]:
    """The installed `qa-bot` script next to this Python, else `python -m qa_bot.cli`."""
    script = Path(sys.executable).with_name("qa-bot")
    if script.is_file():
        return [str(script)]
    found = shutil.which("qa-bot")
    return [found] if found else [sys.executable, "-m", "qa_bot.cli"]


# Linux charges a child the peak RSS of the process it was forked from (the bench holds a model), so
# each run goes through this small launcher: it forks the command from its own ~10 MiB and reports the
# command's peak RSS and its start time on the system-wide monotonic clock.
LAUNCHER = """
import json, os, sys, time
start = time.monotonic()
pid = os.fork()
if pid == 0:
    target = os.environ.get("QA_BOT_BENCH_CHILD_STDERR") or os.devnull
    os.dup2(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(json.dumps({"start": start, "maxrss_kib": usage.ru_maxrss,
                             "code": os.waitstatus_to_exitcode(status)}))
"""


def _run_once(argv: list[str], env: Mapping[str, str]) -> tuple[float, float, int]:
    """(seconds from launch to the first stdout line, peak RSS in MiB, exit code) of one fresh process."""
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, *argv], env=dict(env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    first = time.monotonic()
    _, err = proc.communicate()
    report = err.decode("utf-8", "replace")
    try:
        info = json.loads(report[report.rindex("{"):])
    except ValueError:
        raise RuntimeError(f"`{' '.join(argv)}` failed: {report[-500:]}") from None
    return first - info["start"], info["maxrss_kib"] / 1024, info["code"]  # ru_maxrss is KiB on Linux


def imported_heavy(question: str, env: Mapping[str, str]) -> dict[str, Any]:
    """Heavy packages `qa-bot ask` imports, and its slowest top-level imports, from `-X importtime`."""
    cmd = [sys.executable, "-X", "importtime", "-m", "qa_bot.cli", "ask", question]
    return parse_importtime(subprocess.run(cmd, env=dict(env), capture_output=True, text=True, timeout=300).stderr)


def parse_importtime(text: str) -> dict[str, Any]:
    """The heavy packages and the slowest top-level imports in `-X importtime` output."""
    packages: set[str] = set()
    top_level: dict[str, float] = {}
    for line in text.splitlines():
        parts = line[len("import time:"):].split("|") if line.startswith("import time:") else []
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue
        name = parts[2].rstrip()
        packages.add(name.strip().split(".")[0])
        if len(name) - len(name.lstrip()) <= 1:  # depth 0: imported by the command itself
            top_level[name.strip()] = max(top_level.get(name.strip(), 0.0), int(parts[1]) / 1000)
    slowest = sorted(top_level.items(), key=lambda kv: -kv[1])[:8]
    return {"heavy": sorted(packages & set(HEAVY_MODULES)),
            "slowest_imports_ms": {name: round(ms, 1) for name, ms in slowest}}


def measure_cold_start(question: str, env: Mapping[str, str], runs: int = 5) -> dict[str, Any]:
    """Median launch-to-first-answer-line and peak RSS of `qa-bot ask QUESTION` over `runs` processes.

    The index must exist already (`env` points at it): this times answering, not building."""
    argv = [*qa_bot_command(), "ask", question]
    if runs > 2:
        _run_once(argv, env)  # untimed: page cache and bytecode as a server has them after its first start
    firsts, peaks, codes = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "importtime.txt"
        if runs == 1:  # quick: the one timed run also lists its imports (costs it a few per cent)
            env = {**env, "PYTHONPROFILEIMPORTTIME": "1", "QA_BOT_BENCH_CHILD_STDERR": str(log)}
        for _ in range(runs):
            first, peak, code = _run_once(argv, env)
            firsts.append(first)
            peaks.append(peak)
            codes.append(code)
        imports = parse_importtime(log.read_text("utf-8", "replace")) if runs == 1 else imported_heavy(question, env)
    return {"runs": runs, "median_s": percentile(firsts, 50), "min_s": min(firsts), "max_s": max(firsts),
            "peak_rss_mib": percentile(peaks, 50), "exit_codes": sorted(set(codes)), "imports": imports,
            "imports_timed_run": runs == 1}


IDLE_SCRIPT = """
import importlib, importlib.util, sys, time
from qa_bot.service import QAService
service = QAService.from_settings(build_if_missing=False)
service.search(sys.argv[1])
frontend = "none"
for name in ("qa_bot.bot.app", "telegram.ext"):
    if importlib.util.find_spec(name.split(".")[0]) and importlib.util.find_spec(name):
        importlib.import_module(name)
        frontend = name
        break
print(frontend, flush=True)
time.sleep(600)
"""


def measure_idle_rss(question: str, env: Mapping[str, str], settle_s: float = 1.0) -> dict[str, Any]:
    """RSS of a long-running process like the bot: model and index loaded, one question answered, the
    Telegram stack imported (the bot module when present), then idle."""
    import psutil

    proc = subprocess.Popen([sys.executable, "-c", IDLE_SCRIPT, question], env=dict(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        frontend = proc.stdout.readline().strip()
        if not frontend:
            raise RuntimeError(f"the idle process failed: {proc.stderr.read()[-500:] if proc.stderr else ''}")
        time.sleep(settle_s)
        info = psutil.Process(proc.pid)
        rss = info.memory_info().rss / 2**20
        peak = _vm_hwm_mib(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    return {"rss_mib": rss, "peak_rss_mib": peak, "frontend_imported": frontend}


def _vm_hwm_mib(pid: int) -> float:
    """Peak resident set (VmHWM) of a running process, from /proc."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
