"""The `qa-bot bench` command. Imports only click at import time: the bench modules, models, FAISS and
matplotlib load when the command runs, so registering it costs the rest of the CLI nothing."""

from __future__ import annotations

from pathlib import Path

import click

from ..settings import BACKENDS


def _sizes(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    out = []
    for part in value.replace(",", " ").split():
        part = part.lower().replace("_", "")
        scale = 1_000_000 if part.endswith("m") else 1_000 if part.endswith("k") else 1
        out.append(int(float(part.rstrip("mk")) * scale))
    return tuple(out)


@click.command()
@click.option("--quick", is_flag=True, help="A small run that finishes within about a minute.")
@click.option("--backend", "backends", multiple=True,
              type=click.Choice(BACKENDS),
              help="Backend to measure (repeatable) [default: sentence-transformers and use].")
@click.option("--sizes", help="Corpus sizes for the scale part, e.g. '10k,100k,1m'; '0' skips it "
                              "[default: 10k,100k,1m; quick: 10k].")
@click.option("--questions", type=click.IntRange(1, 5000), help="Questions for the latency part "
                                                                "[default 300; quick 40].")
@click.option("--cold-runs", type=click.IntRange(1, 50), help="Fresh `qa-bot ask` processes [default 7; quick 1].")
@click.option("--update-size", type=str, help="Index size for the incremental-update part (hash backend), "
                                             "e.g. '100k'; '0' skips it [default: 100k; quick: 1k].")
@click.option("--scale-only", is_flag=True, help="Only the scale part (no model is loaded).")
@click.option("--xquad", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="XQuAD folder (xquad.de.json, ...) for the corpus and questions [env QA_BOT_BENCH_XQUAD].")
@click.option("--articles", "articles", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Articles folder to bench on instead of XQuAD's German paragraphs.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("bench-results"),
              show_default=True, help="Folder for bench.json and bench-latency.png.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of tables.")
@click.option("--engines", is_flag=True,
              help="Compare the local and the PostgreSQL engine at --sizes [default 10k,100k] (needs "
                   "QA_BOT_DATABASE_URL; works in a temporary schema).")
@click.option("--markdown", "from_json", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Measure nothing: print the README tables of a bench.json and redraw its chart next to it.")
@click.option("--index-load", "index_load", metavar="SIZES",
              help="Only measure what verifying the index checksums adds to loading an index of these sizes "
                   "(e.g. '10k,100k'; no model needed).")
def bench(quick: bool, backends: tuple[str, ...], sizes: str | None, questions: int | None,
          cold_runs: int | None, update_size: str | None, scale_only: bool, xquad: Path | None,
          articles: Path | None, out_dir: Path, as_json: bool, from_json: Path | None, index_load: str | None,
          engines: bool) -> None:
    """Measure per-question latency against the model's floor, cold start, memory, indexing throughput
    and search at 10k-1M passages on this machine; writes a table, JSON and a PNG chart."""
    import json

    if index_load is not None:
        from .indexload import format_index_load, measure_index_load

        rows = [measure_index_load(n, echo=lambda m: click.echo(m, err=True)) for n in _sizes(index_load) or ()]
        click.echo(json.dumps(rows) if as_json else format_index_load(rows))
        return

    from .report import format_markdown, format_table, write_chart, write_json

    if from_json is not None:
        result = json.loads(from_json.read_text("utf-8"))
        write_chart(result, from_json.with_name("bench-latency.png"))
        click.echo(format_markdown(result))
        return
    parsed = _sizes(sizes)
    if engines:
        _engines(parsed or (10_000, 100_000), out_dir, as_json)
        return
    from .run import run_bench

    if parsed is not None:
        parsed = tuple(n for n in parsed if n > 0)

    def echo(msg: str) -> None:
        click.echo(msg, err=True)

    chosen = [] if scale_only else (list(backends) or ["sentence-transformers", "use"])
    updates = _sizes(update_size) if update_size is not None else ((0,) if scale_only else None)
    result = run_bench(chosen, quick, parsed, articles=articles, questions=questions, cold_runs=cold_runs, echo=echo,
                       progress=not as_json, update_size=None if updates is None else (updates or (0,))[0],
                       xquad=xquad)
    write_json(result, out_dir / "bench.json")
    charted = write_chart(result, out_dir / "bench-latency.png")
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, default=str))
        return
    click.echo(format_table(result))
    click.echo(f"\nWrote {out_dir / 'bench.json'}" + (f" and {out_dir / 'bench-latency.png'}" if charted else ""))


def _engines(sizes: tuple[int, ...], out_dir: Path, as_json: bool) -> None:
    import json

    from ..settings import load_settings
    from .engines import format_engines, run_engines

    settings = load_settings()
    if not settings.database_url:
        raise click.UsageError("--engines needs QA_BOT_DATABASE_URL (a PostgreSQL database with pgvector).")
    result = run_engines(settings, sizes, echo=lambda msg: click.echo(msg, err=True))
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "bench-engines.json").write_text(json.dumps(result, indent=1), "utf-8")
    click.echo(json.dumps(result) if as_json else format_engines(result))
