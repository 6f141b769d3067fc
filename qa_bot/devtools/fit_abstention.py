"""Fit the abstention model of a calibration (calibration.Abstention) on XQuAD, and choose its threshold.

Every XQuAD question is asked twice against an index of all 240 German paragraphs: once as it is
(answerable) and once with every paragraph of its own article left out of the candidates (unanswerable:
a topic the corpus does not cover). The evidence of the best remaining passage (dense score, prominence,
BM25, whether the question is in the corpus's language) feeds a logistic regression; the threshold is
the highest confidence that still answers `--answered` of the answerable questions (mean over languages).

    python -m qa_bot.devtools.fit_abstention --xquad DIR [--backend e5] [--index-dir DIR]

Prints the coefficients for `calibration.py` and what the threshold does per language. With
`--index-dir`, an XQuAD index built there before (by this tool or `qa-bot eval`) is reused.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from ..evaluate import build_xquad_service, load_xquad, xquad_articles
from ..service import QAService
from ..settings import load_settings

FEATURES = ("dense", "prominence", "lexical", "lexical_same_language", "same_language")
CANDIDATES = 60


def evidence(service: QAService, question: str, qvec: np.ndarray, leave_out: set[int]) -> list[float]:
    """The features of the best candidate whose paragraph is not in `leave_out`."""
    retriever = service.retriever
    ranked = retriever._rank(question, qvec, CANDIDATES, "fused", None)
    rows = retriever.snapshot.passages([int(i) for i in ranked.ids])
    keep = np.array([int(rows[int(i)].source.doc_id.rsplit("-", 1)[1]) not in leave_out for i in ranked.ids])
    if not keep.any():
        return [0.0, 0.0, 0.0, 0.0, float(ranked.same_language)]
    dense = ranked.dense[keep]
    by_dense = np.sort(dense)[::-1]
    baseline = float(np.mean(by_dense[5:20] if len(by_dense) > 5 else by_dense))
    top = int(np.argmax(ranked.fused[keep]))
    same = float(ranked.same_language)
    lexical = float(ranked.lexical[keep][top])
    return [float(dense[top]), float(dense[top]) - baseline, lexical, lexical * same, same]


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 0.1, steps: int = 50) -> tuple[np.ndarray, float]:
    """Weights and bias of an L2-regularised logistic regression (Newton's method: five features)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    reg = np.eye(xb.shape[1]) * l2
    reg[-1, -1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -50, 50)))
        grad = xb.T @ (p - y) + reg @ w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + reg
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--xquad", type=Path, required=True, help="folder with xquad.<lang>.json")
    parser.add_argument("--backend", default="e5")
    parser.add_argument("--model", default=None)
    parser.add_argument("--langs", default="de,en,ru,es")
    parser.add_argument("--answered", type=float, default=0.97, help="share of answerable questions to answer")
    parser.add_argument("--index-dir", type=Path, help="reuse (or build) the XQuAD index here")
    args = parser.parse_args(argv)
    settings = load_settings(backend=args.backend, model=args.model)
    with tempfile.TemporaryDirectory(prefix="qa-bot-fit-") as tmp:
        index_dir = args.index_dir or Path(tmp)
        if (index_dir / "manifest.json").exists():
            service = QAService(settings.with_overrides(index_dir=index_dir))
            service.open()
        else:
            service = build_xquad_service(settings, args.xquad, index_dir)
        articles = xquad_articles(args.xquad)
        members: dict[int, set[int]] = {}
        for para, article in enumerate(articles):
            members.setdefault(article, set()).add(para)
        rows, labels, langs = [], [], []
        for lang in args.langs.split(","):
            _, questions = load_xquad(args.xquad, lang)
            qvecs = service.embedder.encode_queries([q for q, _ in questions])
            for (question, gold), qvec in zip(questions, qvecs):
                rows.append(evidence(service, question, qvec, set()))
                rows.append(evidence(service, question, qvec, members[articles[gold]]))
                labels += [1, 0]
                langs += [lang, lang]
    x, y, lang_of = np.array(rows), np.array(labels, dtype=float), np.array(langs)
    weights, bias = fit_logistic(x, y)
    z = x @ weights + bias
    answerable = y == 1

    def answered(t: float) -> float:
        return float(np.mean([np.mean(z[answerable & (lang_of == lg)] >= t) for lg in args.langs.split(",")]))

    grid = np.round(np.arange(-6.0, 3.0, 0.05), 2)
    threshold = max(t for t in grid if answered(t) >= args.answered)
    print("Abstention(" + ", ".join(f"{n}={w:.2f}" for n, w in zip(FEATURES, weights)) + f", bias={bias:.2f})")
    print(f"min_score={1 / (1 + np.exp(-threshold)):.3f}  (z={threshold}; answers {answered(threshold):.3f} "
          "of the answerable questions)")
    for lg in args.langs.split(","):
        mine = lang_of == lg
        print(f"  {lg}: answered when answerable {np.mean(z[mine & answerable] >= threshold):.3f}  "
              f"abstained when unanswerable {np.mean(z[mine & ~answerable] < threshold):.3f}")


if __name__ == "__main__":
    main()
