"""Click options shared by every command that opens the index: one definition for the CLI and the bot."""

from __future__ import annotations

from pathlib import Path

import click

from .settings import BACKENDS


def service_options(func):
    """--backend, --model, --index-dir and --articles, each overriding its environment variable."""
    func = click.option("--articles", "articles_dir", type=click.Path(path_type=Path),
                        help="Articles folder [env QA_BOT_ARTICLES_DIR, default seeds/].")(func)
    func = click.option("--index-dir", type=click.Path(path_type=Path),
                        help="Index folder [env QA_BOT_INDEX_DIR, default embeddings/].")(func)
    func = click.option("--model", help="Model name or path [env QA_BOT_MODEL].")(func)
    func = click.option("--backend", type=click.Choice(list(BACKENDS)),
                        help="Embedding backend [env QA_BOT_BACKEND].")(func)
    return func
