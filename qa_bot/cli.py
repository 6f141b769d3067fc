"""The `qa-bot` command. Imports of the model, FAISS and the Telegram stack happen inside commands, so
`qa-bot --help` is instant and `qa-bot ask` never loads the bot."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from . import __version__
from .errors import QABotError
from .options import service_options
from .types import MODES


def _settings(**overrides: Any):
    from .settings import load_settings

    return load_settings(**overrides)


def _service(build_if_missing: bool, quiet: bool = False, load_model: bool = True, **overrides: Any):
    from .service import QAService

    service = QAService(_settings(**overrides))

    def built(report) -> None:
        if not quiet:
            click.echo(f"No index yet: built one from {service.settings.articles_dir}/ "
                       f"({report.passages_total} passages).", err=True)

    service.open(build_if_missing=build_if_missing, on_built=built, load_model=load_model)
    return service


class QACommandGroup(click.Group):
    """Turns domain errors into one plain line on stderr and exit code 1 (2 for usage errors). Anything
    else is a bug: one line too, and its traceback only with QA_BOT_VERBOSE=1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QABotError as exc:
            _error(str(exc))
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if os.environ.get("QA_BOT_VERBOSE", "").strip().lower() in ("1", "true", "yes", "on"):
                raise
            _error(f"unexpected {type(exc).__name__}: {exc}. This is a bug in qa-bot; run again with "
                   "QA_BOT_VERBOSE=1 for the details to report.")


def _error(message: str) -> NoReturn:
    from .render import use_color

    click.secho(f"Error: {message}", fg="red", err=True, color=use_color(sys.stderr))
    sys.exit(1)


@click.group(cls=QACommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="qa-bot")
def cli() -> None:
    """Answer questions over news articles by quoting the most relevant passages with their source."""
    _settings_warnings_to_stderr()


def _settings_warnings_to_stderr() -> None:
    """Settings warnings (a misspelt QA_BOT_* variable) as one `Warning: …` line each on stderr."""
    logger = logging.getLogger("qa_bot.settings")
    if not any(isinstance(h, _StderrWarnings) for h in logger.handlers):
        logger.addHandler(_StderrWarnings(logging.WARNING))
        logger.propagate = False


class _StderrWarnings(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"Warning: {record.getMessage()}", err=True)  # whatever sys.stderr is now


@cli.command()
@click.argument("sources", nargs=-1)
@click.option("--rebuild", is_flag=True, help="Re-embed every article instead of only new or changed ones.")
@click.option("--prune", is_flag=True,
              help="With SOURCES: also remove indexed articles that are not among them.")
@click.option("--feeds", "refresh_feeds", is_flag=True,
              help="First fetch the new items of every subscribed feed.")
@click.option("--watch", is_flag=True,
              help="Keep going: every --interval seconds fetch new feed items and index what changed.")
@click.option("--interval", type=click.FloatRange(1), default=900.0, show_default=True,
              help="Seconds between rounds with --watch.")
@click.option("--json", "as_json", is_flag=True, help="Print what changed as one JSON object (per round).")
@service_options
def index(sources: tuple[str, ...], rebuild: bool, prune: bool, refresh_feeds: bool, watch: bool, interval: float,
          as_json: bool, **overrides: Any) -> None:
    """Build or update the index from the articles folder (removed articles disappear), or add SOURCES:
    article files or folders (.txt, .md, .html, .pdf), web page or PDF URLs, and RSS/Atom feeds (URLs or
    .rss/.atom/.xml files; every item's article is fetched, items seen before are skipped)."""
    from .service import QAService

    service = QAService(_settings(**overrides))
    if watch:
        _watch(service, list(sources), interval, as_json)
        return
    _index_round(service, list(sources), rebuild, prune, refresh_feeds, as_json)


def _index_round(service, sources: list[str], rebuild: bool, prune: bool, refresh_feeds: bool,
                 as_json: bool) -> None:
    stage = None if as_json else (lambda msg: click.echo(msg + " …", err=True))
    collected, report = service.add_sources(sources, refresh_feeds=refresh_feeds, progress=not as_json,
                                            on_stage=stage, rebuild=rebuild, prune=True if prune else None)
    for problem in collected.problems:
        click.echo(f"Warning: {problem}", err=True)
    for path in report.empty:
        click.echo(f"Warning: {path} has no text to quote; it is indexed with 0 passages.", err=True)
    if as_json:
        data = report.to_json()
        data["fetched"] = [str(p) for p in collected.paths]
        data.update(feeds_added=collected.feeds_added, items_seen=collected.items_seen,
                    problems=collected.problems)
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    for feed in collected.feeds_added:
        click.echo(f"Subscribed to the feed {feed}")
    if collected.paths or collected.items_seen:
        seen = f" ({collected.items_seen} feed item(s) seen before skipped)" if collected.items_seen else ""
        click.echo(f"Fetched {len(collected.paths)} article(s) into {service.settings.articles_dir}/{seen}.")
    if report.repaired:
        click.echo(f"Repaired: {report.repaired}; the index was rebuilt from the articles.")
    for label, items in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        _echo_changes(label, items)
    if not report.modified:
        click.echo(f"Index is up to date: {len(report.unchanged)} article(s), {report.passages_total} passages.")
    else:
        counts = ", ".join(f"{len(items)} {label}" for label, items in
                           (("added", report.added), ("changed", report.changed), ("removed", report.removed))
                           if items)
        s = service.settings
        where = f"{s.index_dir}/"
        if s.database_url:
            from .store.pg.connect import describe

            where = f"PostgreSQL {describe(s.database_url)} (schema {s.database_schema})"
        click.echo(f"Indexed {report.passages_embedded} new passage(s) ({counts} article(s)); the index holds "
                   f"{report.passages_total} passages ({report.index_type}) in {where} [{report.seconds:.1f}s].")


SHOW_CHANGES = 10  # more changed articles than this are summarised, not listed one per line


def _echo_changes(label: str, items: list[str]) -> None:
    shown = items if len(items) <= SHOW_CHANGES else items[:SHOW_CHANGES - 2]
    for doc_id in shown:
        click.echo(f"{label:>8}  {doc_id}")
    if len(shown) < len(items):
        click.echo(f"{label:>8}  … and {len(items) - len(shown)} more (`--json` lists them all)")


def _watch(service, sources: list[str], interval: float, as_json: bool) -> None:
    """Index rounds until SIGTERM or Ctrl-C; a failed round is reported and the next one still runs."""
    import signal
    import threading
    import time

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.is_set():
            began = time.monotonic()
            try:
                _index_round(service, sources, False, False, True, as_json)
            except QABotError as exc:
                click.echo(f"Error: {exc} (trying again in {interval:.0f}s)", err=True)
            sources = []  # given sources are added once; later rounds refresh the feeds and the folder
            if not as_json:
                click.echo(f"Next round in {interval:.0f}s (Ctrl-C or SIGTERM stops).", err=True)
            stop.wait(max(0.0, interval - (time.monotonic() - began)))
    except KeyboardInterrupt:
        pass
    click.echo("Stopped.", err=True)


@cli.command()
@click.argument("question")
@click.option("-k", "--top-k", type=click.IntRange(1, 50), help="Passages to show [env QA_BOT_TOP_K, default 3].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--full", is_flag=True, help="Print every passage whole (default: the best one in context, "
                                           "then the answering sentence of the others).")
@click.option("--mode", type=click.Choice(MODES), default="fused", show_default=True,
              help="Retriever to use.")
@service_options
def ask(question: str, top_k: int | None, as_json: bool, full: bool, mode: str, **overrides: Any) -> None:
    """Answer QUESTION with quoted passages (builds the index on first use)."""
    from .render import render_answer_text, text_width, use_color
    from .retrieve import clean_question

    clean_question(question)  # refuse an empty question before loading a model or building an index
    service = _service(build_if_missing=True, quiet=as_json, **overrides)
    answer = service.search(question, top_k, mode=mode)
    if as_json:
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        click.echo(render_answer_text(answer, color=use_color(sys.stdout), width=text_width(), full=full))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@service_options
def sources(as_json: bool, **overrides: Any) -> None:
    """List the indexed articles with their passage counts."""
    from .render import render_sources_text

    service = _service(build_if_missing=False, load_model=False, **overrides)
    docs = service.sources()
    if as_json:
        click.echo(json.dumps([d.__dict__ for d in docs], ensure_ascii=False))
    else:
        click.echo(render_sources_text(docs, service.info()))


@cli.command()
@click.option("-k", "--top-k", type=click.IntRange(1, 50), help="Passages per answer.")
@service_options
def repl(top_k: int | None, **overrides: Any) -> None:
    """Ask questions interactively (line editing, history, /help for commands)."""
    from .repl import run_repl

    service = _service(build_if_missing=True, **overrides)
    run_repl(service, top_k or service.settings.top_k)


def _modes(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    modes = [x.strip() for x in value.split(",") if x.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise click.BadParameter(f"{', '.join(unknown) or 'none given'}: choose from {', '.join(MODES)}.")
    return modes


@cli.command(name="eval")
@click.option("--questions", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Question file in the format of seed_dev_questions.json.")
@click.option("--xquad", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="XQuAD folder (xquad.de.json, xquad.en.json, ...).")
@click.option("--langs", default="de,en,ru,es", show_default=True, help="XQuAD question languages.")
@click.option("--retrievers", default=",".join(sorted(MODES)), show_default=True, callback=_modes,
              help=f"Retrievers to compare (comma separated: {', '.join(MODES)}).")
@click.option("--limit", type=int, help="Use only the first N XQuAD questions per language (quick runs).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@service_options
def eval_(questions: Path | None, xquad: Path | None, langs: str, retrievers: list[str], limit: int | None,
          as_json: bool, **overrides: Any) -> None:
    """Measure retrieval quality: hit@k/MRR/abstention on a question file, Recall@k on XQuAD."""
    from . import evaluate

    if not questions and not xquad:
        raise click.UsageError("Give --questions FILE, --xquad DIR, or both.")
    settings = _settings(**overrides)
    result: dict[str, Any] = {}
    if questions:
        service = _service(build_if_missing=True, quiet=True, **overrides)
        result["questions"] = evaluate.eval_questions(service, questions)
    if xquad:
        result["xquad"] = evaluate.eval_xquad(settings, xquad, [x for x in langs.split(",") if x],
                                              retrievers, limit=limit,
                                              progress=not as_json)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        click.echo(evaluate.format_report(result, settings))


@cli.command()
@click.option("--xquad", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="XQuAD folder (xquad.de.json, xquad.en.json, ...).")
@click.option("--langs", default="de,en,ru", show_default=True, help="Question languages to balance.")
@click.option("--limit", type=int, help="Use only the first N questions per language.")
@click.option("--target-answered", type=click.FloatRange(0, 1), default=0.95, show_default=True,
              help="Share of answerable questions that must still be answered.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@service_options
def calibrate(xquad: Path, langs: str, limit: int | None, target_answered: float, as_json: bool,
              **overrides: Any) -> None:
    """Measure the abstention threshold (QA_BOT_MIN_SCORE) for the configured model on XQuAD."""
    from .evaluate import calibrate_xquad

    result = calibrate_xquad(_settings(**overrides), xquad, [x for x in langs.split(",") if x], limit=limit,
                             progress=not as_json, target_answered=target_answered)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"{result['backend']} model {result['model']}: QA_BOT_MIN_SCORE={result['min_score']}")
    for lang, m in result["per_lang"].items():
        click.echo(f"  {lang}: balanced accuracy {m['balanced_accuracy']:.3f}  answered when answerable "
                   f"{m['answered_when_answerable']:.3f}  abstained when unanswerable "
                   f"{m['abstained_when_unanswerable']:.3f}")
    click.echo("\nmin_score  " + "  ".join(f"{lang}: answered/abstained" for lang in result["per_lang"]))
    for row in result["table"]:
        cells = "  ".join(f"{row[lang][0]:.2f}/{row[lang][1]:.2f}".ljust(len(lang) + 21) for lang in result["per_lang"])
        click.echo(f"{row['min_score']:<9.3f}  {cells}")


@cli.command(name="settings")
@click.option("--markdown", is_flag=True, help="Print the table as Markdown (for the README).")
@click.option("--section", type=click.Choice(["core", "bot"]),
              help="Only the settings of the core or of the Telegram bot [default: all].")
def settings_(markdown: bool, section: str | None) -> None:
    """Show every setting, its environment variable and its current value."""
    from .settings import SETTINGS, load_settings, settings_table_markdown

    if markdown:
        click.echo(settings_table_markdown(section))
        return
    import textwrap

    from .calibration import calibration_for, passage_chars
    from .embed import settings_identity
    from .render import text_width

    current = load_settings()
    for s in SETTINGS:
        if section is not None and s.section != section:
            continue
        value = current.value(s.name)
        shown = "***" if (s.secret and value) else ("(not set)" if value in (None, "", (), frozenset()) else value)
        if isinstance(shown, (frozenset, tuple)):
            shown = ",".join(map(str, sorted(shown)))
        if s.name == "bot_state" and value is None:
            shown = f"(not set: {current.state_path()})"
        if s.name == "min_score" and value is None:
            shown = f"auto ({calibration_for(settings_identity(current)).min_score})"
        if s.name == "max_passage_chars" and value is None:
            shown = f"auto ({passage_chars(current)})"
        click.echo(f"{s.env} = {shown!s}")
        click.echo(textwrap.fill(s.help, width=text_width(), initial_indent="    ", subsequent_indent="    ",
                                 break_long_words=False, break_on_hyphens=False))


# The bot and the bench register their commands here; their modules import the heavy parts lazily.
from .bench.commands import bench  # noqa: E402
from .bot.commands import feedback, loadtest, serve  # noqa: E402

for _command in (serve, loadtest, feedback, bench):
    cli.add_command(_command)


def _lenient_stdio() -> None:
    """Input bytes that are not valid text become U+FFFD and text the terminal cannot show is replaced:
    one odd byte never ends `qa-bot repl` or crashes an answer half-printed."""
    for stream, errors in ((sys.stdin, "replace"), (sys.stdout, "replace"), (sys.stderr, "backslashreplace")):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors=errors)


def main() -> None:
    """The `qa-bot` program. Process-wide settings of the libraries it drives belong here, not in the
    library code a Python caller imports: no weight-loading bars from transformers and the hub in CLI
    output, and python-telegram-bot's future `retry_after` type (else every 429 logs a deprecation)."""
    import os

    for name, value in (("TRANSFORMERS_VERBOSITY", "error"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
                        ("PTB_TIMEDELTA", "true")):
        os.environ.setdefault(name, value)
    _lenient_stdio()
    cli(prog_name="qa-bot")


if __name__ == "__main__":
    main()
