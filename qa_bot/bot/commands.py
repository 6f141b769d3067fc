"""`qa-bot serve` and `qa-bot loadtest`. Telegram, aiohttp and the model load inside the command bodies,
so importing this module (which `qa_bot.cli` does) costs nothing for `qa-bot ask`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..options import service_options


@click.command()
@service_options
def serve(**overrides: Any) -> None:
    """Run the Telegram bot (long polling, or webhook when QA_BOT_WEBHOOK_URL is set) until SIGTERM."""
    import logging

    from ..errors import SettingsError
    from ..service import QAService
    from ..settings import load_settings
    from .logs import setup_logging

    settings = load_settings(**overrides)
    db_password = None
    if settings.database_url:  # psycopg and pool messages may quote the URL: its password never reaches a log
        from urllib.parse import urlsplit

        try:
            db_password = urlsplit(settings.database_url).password
        except ValueError:
            db_password = None
    setup_logging(settings.bot.verbose, settings.bot.telegram_token, settings.bot.webhook_secret, db_password,
                  json_lines=settings.bot.log_format == "json")
    if not settings.bot.telegram_token:
        raise SettingsError("TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather and export its token.")
    log = logging.getLogger("qa_bot.bot")
    log.info("loading index from %s (%s backend)", settings.index_dir, settings.backend)
    service = QAService(settings)
    service.open(build_if_missing=False)  # a missing or mismatched index is a clean start-up error
    from .app import serve as run

    run(settings, service)


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    from .soak import parse_duration

    try:
        return parse_duration(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give seconds, or a number with s, m or h (e.g. 30m)") from None


def fake_api_available() -> None:
    """The load test drives the bot through the fake Bot API of `qa_bot.devtools`, a development tool:
    say how to get it when this installation lacks it (or aiohttp, which it runs on)."""
    from ..errors import QABotError

    try:
        import qa_bot.devtools.fake_api  # noqa: F401
    except ImportError as exc:
        raise QABotError(f"qa-bot loadtest needs the development tools ({exc.name or exc} is missing). Install "
                         "them from a source checkout with: pip install -e '.[dev]'") from None


@click.command(name="loadtest")
@click.option("--users", "-n", type=click.IntRange(1, 1000), default=None,
              help="Simulated users asking at the same time [default: 20; 5 with --duration].")
@click.option("--questions", "-m", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="Questions per user, asked one after another (without --duration).")
@click.option("--duration", callback=_duration, metavar="TIME",
              help="Soak: run a `qa-bot serve` process this long (90, 90s, 30m, 2h) and report its memory, open "
                   "files, threads and latency over time, and lost or duplicated replies.")
@click.option("--interval", type=click.FloatRange(min=1), help="Soak: seconds between samples [duration/10, 2-60].")
@click.option("--think", type=click.FloatRange(min=0), default=0.2, show_default=True,
              help="Soak: seconds each user waits after a reply before the next request.")
@click.option("--faults/--no-faults", default=True, show_default=True,
              help="Soak: make the fake Telegram fail now and then (500, 429, drops, late or garbled answers).")
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Soak: keep the bot's log in this file.")
@click.option("--replicas", type=click.IntRange(1, 16),
              help="Run this many `qa-bot serve` processes in webhook mode sharing QA_BOT_DATABASE_URL, behind a "
                   "fake Telegram delivering round-robin.")
@click.option("--timeout", type=float, default=300.0, show_default=True,
              help="Give up waiting for one reply after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@service_options
def loadtest(users: int | None, questions: int, duration: float | None, interval: float | None, think: float,
             faults: bool, log_path: Path | None, replicas: int | None, timeout: float, as_json: bool,
             **overrides: Any) -> None:
    """Benchmark the bot through a local fake Bot API server (127.0.0.1 only): N users x M questions, or
    with --duration a soak of a real `qa-bot serve` process."""
    import json

    fake_api_available()
    if replicas is not None:
        from .loadtest_replicas import format_replica_report, run_replica_loadtest

        report = run_replica_loadtest(replicas, users or 20, questions, timeout=timeout, **overrides)
        click.echo(json.dumps(report) if as_json else format_replica_report(report))
        return
    if duration is not None:
        from .soak import format_soak, run_soak

        report = run_soak(duration, users or 5, think=think, interval=interval, faults=faults, timeout=timeout,
                          log_path=log_path, **overrides)
        click.echo(json.dumps(report) if as_json else format_soak(report))
        return
    from .loadtest import format_report, run_loadtest

    report = run_loadtest(users or 20, questions, timeout=timeout, **overrides)
    click.echo(json.dumps(report) if as_json else format_report(report))


@click.command(name="feedback")
@click.option("--json", "as_json", is_flag=True, help="Print every rated answer as one JSON object.")
@click.option("--export", "export", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the 👎 questions to FILE in the format of the seed question file (for `qa-bot eval`).")
@click.option("--index-dir", type=click.Path(path_type=Path), help="Index folder [env QA_BOT_INDEX_DIR]: the state "
              "file's default place.")
def feedback(as_json: bool, export: Path | None, index_dir: Path | None) -> None:
    """What users rated with 👍 / 👎 in the bot (read from the bot's state file)."""
    import json

    from ..settings import load_settings
    from .feedback import export_misses, summary_text
    from .state import BotState

    settings = load_settings(index_dir=index_dir)
    if settings.database_url:  # replicas keep their state in PostgreSQL
        from ..store.pg.connect import describe
        from .shared import read_feedback

        path: Any = f"PostgreSQL {describe(settings.database_url)} (schema {settings.database_schema})"
        rated, counts = read_feedback(settings)
    else:
        path = settings.state_path()
        if not path.exists():
            raise click.ClickException(f"No bot state file at {path} (the bot has not run with this setting, "
                                       "or QA_BOT_STATE_FILE / QA_BOT_INDEX_DIR point elsewhere).")
        state = BotState(path)
        try:
            rated, counts = state.feedback(), state.feedback_summary()
        finally:
            state.close()
    if export is not None:
        data = export_misses(rated)
        export.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", "utf-8")
        click.echo(f"Wrote {len(data['questions'])} question(s) rated 👎 to {export}.")
        return
    if as_json:
        click.echo(json.dumps({"state_file": str(path), **counts, "answers": rated}, ensure_ascii=False))
        return
    click.echo(summary_text(path, counts, rated))
