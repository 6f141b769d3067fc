"""`qa-bot serve` and `qa-bot loadtest`. Telegram, aiohttp and the model load inside the command bodies,
so importing this module (which `qa_bot.cli` does) costs nothing for `qa-bot ask`."""

from __future__ import annotations

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
    setup_logging(settings.bot.verbose, settings.bot.telegram_token, settings.bot.webhook_secret,
                  json_lines=settings.bot.log_format == "json")
    if not settings.bot.telegram_token:
        raise SettingsError("TELEGRAM_BOT_TOKEN is not set. Create a bot with @BotFather and export its token.")
    log = logging.getLogger("qa_bot.bot")
    log.info("loading index from %s (%s backend)", settings.index_dir, settings.backend)
    service = QAService(settings)
    service.open(build_if_missing=False)  # a missing or mismatched index is a clean start-up error
    from .app import serve as run

    run(settings, service)


@click.command(name="loadtest")
@click.option("--users", "-n", type=click.IntRange(1, 1000), default=20, show_default=True,
              help="Simulated users asking at the same time.")
@click.option("--questions", "-m", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="Questions per user, asked one after another.")
@click.option("--timeout", type=float, default=300.0, show_default=True, help="Give up after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@service_options
def loadtest(users: int, questions: int, timeout: float, as_json: bool, **overrides: Any) -> None:
    """Benchmark: N users x M questions through a local fake Bot API server (127.0.0.1 only)."""
    import json

    from .loadtest import format_report, run_loadtest

    report = run_loadtest(users, questions, timeout=timeout, **overrides)
    click.echo(json.dumps(report) if as_json else format_report(report))
