"""`qa-bot serve` as an operator runs it: clean start-up errors, a real process answering through a local
Bot API server, and a graceful exit on SIGTERM/SIGINT, with the token never printed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT
from fake_bot_api import TOKEN, FakeBotAPI, free_port, visible_text

from qa_bot.cli import cli


def invoke(*args: str, env: dict[str, str]):
    return CliRunner().invoke(cli, ["serve", *args], env=env)


def test_serve_without_token_is_a_clean_error(tmp_path: Path) -> None:
    result = invoke("--backend", "hash", "--index-dir", str(tmp_path / "none"), env={})
    assert result.exit_code == 1
    assert "TELEGRAM_BOT_TOKEN is not set" in result.output and "Traceback" not in result.output


def test_serve_without_index_is_a_clean_error(tmp_path: Path) -> None:
    result = invoke("--backend", "hash", "--index-dir", str(tmp_path / "none"), env={"TELEGRAM_BOT_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert "Error:" in result.output and "Traceback" not in result.output and TOKEN not in result.output
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").iterdir())  # serve never builds one


def test_serve_with_mismatched_index_is_a_clean_error(shared_hash_service) -> None:
    index_dir = str(shared_hash_service.settings.index_dir)
    result = invoke("--backend", "use", "--index-dir", index_dir, env={"TELEGRAM_BOT_TOKEN": TOKEN})
    assert result.exit_code == 1 and "Error:" in result.output and "Traceback" not in result.output


def test_cli_never_loads_the_telegram_stack_for_other_commands() -> None:
    code = ("import sys, qa_bot.cli; "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('telegram', 'aiohttp', 'httpx')]")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def _env(tmp_path: Path, base_url: str, index_dir: Path, token: str = TOKEN, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_BOT_", "TELEGRAM_"))}
    env.update({"TELEGRAM_BOT_TOKEN": token, "QA_BOT_TELEGRAM_BASE_URL": base_url, "QA_BOT_BACKEND": "hash",
                "QA_BOT_INDEX_DIR": str(index_dir), "QA_BOT_STATE_FILE": str(tmp_path / "state.db"),
                "QA_BOT_HEALTH_PORT": str(free_port()), "PYTHONPATH": str(ROOT)}, **extra)
    return env


@pytest.mark.parametrize("sig, log_format", [(signal.SIGTERM, "text"), (signal.SIGINT, "json")])
def test_serve_process_answers_and_stops_gracefully(shared_hash_service, tmp_path: Path, sig: int,
                                                    log_format: str) -> None:
    async def scenario() -> tuple[int, str]:
        api = FakeBotAPI(TOKEN)
        await api.start()
        env = _env(tmp_path, api.base_url, shared_hash_service.settings.index_dir, QA_BOT_LOG_FORMAT=log_format)
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "qa_bot.cli", "serve", cwd=tmp_path,
                                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            await api.wait_until(lambda: "getUpdates" in api.methods(), 60)
            api.message(70, "Wie heißt der nationale Sicherheitsberater der USA?")
            [reply] = await api.wait_until(lambda: api.sent_to(70), 30)
            assert "Jake Sullivan" in visible_text(reply.text)
            proc.send_signal(sig)
            output, _ = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await api.stop()
        return proc.returncode, output.decode()

    code, output = asyncio.run(scenario())
    assert code == 0, output
    assert "question chat_type=private" in output and "answered=yes" in output and "stopped" in output
    assert TOKEN not in output and TOKEN.split(":")[1] not in output
    assert "faiss" not in output and "Sicherheitsberater" not in output  # no loader noise, no question text
    if log_format == "json":
        import json

        records = [json.loads(line) for line in output.splitlines()]
        assert {"time", "level", "logger", "message"} <= set(records[0])
        assert any(r["message"].startswith("question chat_type=private") and r["level"] == "INFO" for r in records)


async def _serve_until_exit(env: dict, cwd: Path) -> tuple[int, str]:
    """Run `qa-bot serve` as a process that is expected to stop by itself; (exit code, output)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "qa_bot.cli", "serve", cwd=cwd, env=env,
                                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode, output.decode()


def test_rejected_token_is_a_clean_error_without_the_token(shared_hash_service, tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str]:
        api = FakeBotAPI("999:the-right-token")  # answers 401 to any other token
        await api.start()
        env = _env(tmp_path, api.base_url, shared_hash_service.settings.index_dir, QA_BOT_VERBOSE="1")
        try:
            return await _serve_until_exit(env, tmp_path)
        finally:
            await api.stop()

    code, output = asyncio.run(scenario())
    assert code == 1, output
    assert "Telegram rejected the bot token" in output
    assert TOKEN not in output and TOKEN.split(":")[1] not in output


def test_health_port_in_use_is_a_clean_error(shared_hash_service, tmp_path: Path) -> None:
    import socket

    async def scenario() -> tuple[int, str]:
        api = FakeBotAPI(TOKEN)
        await api.start()
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            env = _env(tmp_path, api.base_url, shared_hash_service.settings.index_dir, QA_BOT_HEALTH_PORT=str(port))
            try:
                return await _serve_until_exit(env, tmp_path)
            finally:
                await api.stop()

    code, output = asyncio.run(scenario())
    assert code == 1 and "Set QA_BOT_HEALTH_PORT" in output and "Traceback" not in output, output


def test_loadtest_command_drives_the_bot_and_reports(tmp_path: Path) -> None:
    import json

    from conftest import SEEDS

    result = CliRunner().invoke(cli, ["loadtest", "-n", "3", "-m", "2", "--json", "--backend", "hash",
                                      "--articles", str(SEEDS), "--index-dir", str(tmp_path / "index")], env={})
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["asked"] == 6 and report["replied"] == 6 and report["timed_out"] == 0
    assert report["answered"] + report["unanswered"] == 6 and report["html_rejected"] == 0
    assert report["p50_ms"] <= report["p95_ms"] <= report["max_ms"] and report["peak_rss_mib"] > 0


def _serve_with(shared_hash_service, tmp_path: Path, prepare=None, **extra: str) -> tuple[int, str]:
    """`qa-bot serve` against a fresh fake Bot API (set up by `prepare(api)`), run until it exits."""
    async def scenario() -> tuple[int, str]:
        api = FakeBotAPI(TOKEN)
        await api.start()
        if prepare is not None:
            prepare(api)
        env = _env(tmp_path, api.base_url, shared_hash_service.settings.index_dir, **extra)
        try:
            return await _serve_until_exit(env, tmp_path)
        finally:
            await api.stop()

    return asyncio.run(scenario())


def test_state_file_that_is_a_folder_is_a_clean_error(shared_hash_service, tmp_path: Path) -> None:
    folder = tmp_path / "state-folder"
    folder.mkdir()
    code, output = _serve_with(shared_hash_service, tmp_path, QA_BOT_STATE_FILE=str(folder))
    assert code == 1 and "Traceback" not in output, output
    assert f"Error: QA_BOT_STATE_FILE={folder} is a folder" in output


def test_webhook_port_in_use_is_a_clean_error(shared_hash_service, tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, output = _serve_with(shared_hash_service, tmp_path, QA_BOT_WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
                                   QA_BOT_WEBHOOK_PORT=str(port), QA_BOT_WEBHOOK_SECRET="s3cret")
    assert code == 1 and "Traceback" not in output, output
    assert f"Cannot listen for webhook calls on 127.0.0.1:{port}" in output and "QA_BOT_WEBHOOK_PORT" in output


def test_webhook_refused_by_telegram_ends_start_up_with_one_line(shared_hash_service, tmp_path: Path) -> None:
    def refuse(api: FakeBotAPI) -> None:
        api.fail("400", 100, {"setWebhook"})

    code, output = _serve_with(shared_hash_service, tmp_path, refuse, QA_BOT_WEBHOOK_URL="http://127.0.0.1:1/hook",
                               QA_BOT_WEBHOOK_PORT=str(free_port()), QA_BOT_WEBHOOK_SECRET="s3cret")
    assert code == 1 and "Traceback" not in output, output
    assert "Error: Telegram refused the webhook (setWebhook: Bad webhook: refused by a scheduled fault)" in output
    assert "QA_BOT_WEBHOOK_URL" in output and "s3cret" not in output


def test_sigterm_during_a_retried_start_up_exits_at_once(shared_hash_service, tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str, float]:
        api = FakeBotAPI(TOKEN)
        await api.start()
        api.fail("500", 10_000, {"setWebhook"})  # Telegram down: retried until stopped
        env = _env(tmp_path, api.base_url, shared_hash_service.settings.index_dir,
                   QA_BOT_WEBHOOK_URL="http://127.0.0.1:1/hook", QA_BOT_WEBHOOK_PORT=str(free_port()),
                   QA_BOT_WEBHOOK_SECRET="s3cret")
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "qa_bot.cli", "serve", cwd=tmp_path,
                                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            await api.wait_until(lambda: api.faults_served["500"] >= 2, 60)
            proc.send_signal(signal.SIGTERM)
            import time

            began = time.monotonic()
            output, _ = await asyncio.wait_for(proc.communicate(), 30)
            return proc.returncode, output.decode(), time.monotonic() - began
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await api.stop()

    code, output, seconds = asyncio.run(scenario())
    assert code == 0 and "Traceback" not in output, output
    assert seconds < 10, output
    assert "setWebhook failed" in output and "retrying" in output  # transient: logged, retried


def test_soak_reports_resources_over_time_and_every_reply_once(tmp_path: Path) -> None:
    import json

    from conftest import SEEDS

    result = CliRunner().invoke(cli, ["loadtest", "--duration", "4", "--interval", "1", "--users", "3", "--json",
                                      "--backend", "hash", "--articles", str(SEEDS),
                                      "--index-dir", str(tmp_path / "index")], env={})
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["requests"] > 0 and report["replies"] == report["requests"]
    assert (report["lost"], report["duplicated"], report["html_rejected"], report["exit_code"]) == (0, 0, 0, 0)
    assert len(report["samples"]) >= 3 and report["log_tracebacks"] == 0
    start, end = report["start"], report["end"]
    assert start["rss_mib"] > 0 and start["open_files"] > 0 and start["threads"] > 0
    assert end["t_s"] > start["t_s"] and report["rss_growth_pct"] is not None


def test_soak_duration_must_be_a_time() -> None:
    result = CliRunner().invoke(cli, ["loadtest", "--duration", "soon"], env={})
    assert result.exit_code == 2 and "give seconds, or a number with s, m or h" in result.output


def test_loadtest_without_the_development_tools_says_how_to_get_them(monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "qa_bot.devtools.fake_api", None)  # as if not installed
    result = CliRunner().invoke(cli, ["loadtest", "-n", "1", "-m", "1", "--backend", "hash"], env={})
    assert result.exit_code == 1
    assert "qa-bot loadtest needs the development tools" in result.output
    assert "pip install -e '.[dev]'" in result.output and "Traceback" not in result.output


def test_serve_process_skips_an_unreadable_update_and_stops_cleanly(shared_hash_service, tmp_path: Path) -> None:
    async def scenario() -> tuple[int, str, int]:
        api = FakeBotAPI(TOKEN)
        await api.start()
        env = _env(tmp_path, api.base_url, shared_hash_service.settings.index_dir)
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "qa_bot.cli", "serve", cwd=tmp_path,
                                                    env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            await api.wait_until(lambda: "getUpdates" in api.methods(), 60)
            api._push("poll_answer", {"poll_id": "p1", "option_ids": [0],  # no option_persistent_ids
                                      "user": {"id": 2, "is_bot": False, "first_name": "Geheimname"}})
            api.message(71, "Wie heißt der nationale Sicherheitsberater der USA?")
            await api.wait_until(lambda: api.sent_to(71), 30)
            polls = api.methods().count("getUpdates")
            proc.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await api.stop()
        return proc.returncode, output.decode(), polls

    code, output, polls = asyncio.run(scenario())
    assert code == 0 and "Traceback" not in output and "CRITICAL" not in output, output
    assert output.count("cannot read") == 1 and "Geheimname" not in output
    assert polls < 10  # the batch was not fetched again and again
