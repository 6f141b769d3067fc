"""Retrieval benchmarks: a gold-substring question file over the indexed articles, and XQuAD
cross-lingual passage retrieval (German paragraphs, questions in de/en/ru/es). Reports, never asserts."""

from __future__ import annotations

import contextlib
import json
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ArticlesError, QuestionError
from .ingest import make_document
from .settings import Settings

XQUAD_LANGS = ("de", "en", "ru", "es")


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def eval_questions(service, path: Path, k: int = 3) -> dict[str, Any]:
    """hit@1, hit@k, MRR, highlight accuracy (a gold substring inside the highlighted sentence of the
    first passage) and abstention accuracy; per language too. A question with gold [] is answered
    correctly by abstaining."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
        questions = data["questions"] if isinstance(data, dict) else data
    except (OSError, ValueError, KeyError) as exc:
        raise ArticlesError(f"Cannot read the question file {path}: {exc}") from None
    rows = []
    for q in questions:
        gold = [_fold(g) for g in q.get("gold", [])]
        try:
            answer = service.search(q["q"], k)
        except QuestionError:
            answer = None
        answered = bool(answer and answer.answered)
        rank, highlighted = 0, False
        if gold and answer is not None and answered:
            for r in answer.results:
                if any(g in _fold(r.text) for g in gold):
                    rank = r.rank
                    break
            highlighted = bool(answer.results) and any(g in _fold(answer.results[0].highlight) for g in gold)
        rows.append({"id": q.get("id"), "lang": q.get("lang", "?"), "answerable": bool(gold),
                     "answered": answered, "rank": rank, "highlight": highlighted})
    out = {"k": k, **_question_metrics(rows, k)}
    by_lang: dict[str, list] = defaultdict(list)
    for row in rows:
        by_lang[row["lang"]].append(row)
    out["per_lang"] = {lang: _question_metrics(rs, k) for lang, rs in sorted(by_lang.items())}
    out["failures"] = [r["id"] for r in rows
                       if (r["answerable"] and r["rank"] != 1) or (not r["answerable"] and r["answered"])]
    out["highlight_misses"] = [r["id"] for r in rows if r["answerable"] and r["rank"] == 1 and not r["highlight"]]
    return out


def _question_metrics(rows: list[dict], k: int) -> dict[str, Any]:
    answerable = [r for r in rows if r["answerable"]]
    n = max(len(answerable), 1)
    return {
        "questions": len(rows),
        "hit@1": sum(r["rank"] == 1 for r in answerable) / n,
        f"hit@{k}": sum(1 <= r["rank"] <= k for r in answerable) / n,
        "mrr": sum(1 / r["rank"] for r in answerable if r["rank"]) / n,
        "highlight": sum(r["highlight"] for r in answerable) / n,
        "abstain_accuracy": sum(r["answered"] == r["answerable"] for r in rows) / max(len(rows), 1),
    }


def load_xquad(folder: Path, lang: str) -> tuple[list[str], list[tuple[str, int]]]:
    """(contexts, [(question, context index)]) of one XQuAD language file."""
    path = Path(folder) / f"xquad.{lang}.json"
    if not path.exists():
        raise ArticlesError(f"{path} not found: --xquad expects a folder with xquad.<lang>.json files.")
    data = json.loads(path.read_text("utf-8"))
    contexts: list[str] = []
    questions: list[tuple[str, int]] = []
    for article in data["data"]:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                questions.append((qa["question"], len(contexts)))
            contexts.append(para["context"])
    return contexts, questions


def xquad_articles(folder: Path) -> list[int]:
    """The article number of each XQuAD paragraph, in the order of load_xquad's contexts."""
    data = json.loads((Path(folder) / "xquad.de.json").read_text("utf-8"))
    return [n for n, article in enumerate(data["data"]) for _ in article["paragraphs"]]


def build_xquad_service(settings: Settings, folder: Path, index_dir: Path, keep: Sequence[int] | None = None):
    """A service over the German XQuAD contexts (one document per paragraph, split like any article)."""
    from .service import QAService
    from .store import update_index

    contexts, _ = load_xquad(folder, "de")
    service = QAService(settings.with_overrides(index_dir=index_dir))
    wanted = range(len(contexts)) if keep is None else keep
    docs = [make_document(f"xquad-{i:03d}", contexts[i], meta={"lang": "de", "title": f"XQuAD {i}"})
            for i in wanted]
    update_index(service.settings, docs, service.embedder, progress=True)
    service.open()
    return service


@contextlib.contextmanager
def scratch_settings(settings: Settings) -> Iterator[tuple[Settings, Path]]:
    """Settings for a throwaway index: a temporary folder, and with PostgreSQL a temporary schema in the
    configured database (dropped afterwards), so an evaluation never touches the real index."""
    with tempfile.TemporaryDirectory(prefix="qa-bot-eval-") as tmp:
        if not settings.database_url:
            yield settings.with_overrides(index_dir=Path(tmp)), Path(tmp)
            return
        from .store.pg.schema import drop_schema

        schema = f"qa_bot_eval_{uuid.uuid4().hex[:12]}"
        try:
            yield settings.with_overrides(index_dir=Path(tmp), database_schema=schema), Path(tmp)
        finally:
            drop_schema(settings.database_url, schema)


def rank_paragraphs(service, questions: Sequence[str], mode: str, depth: int = 10) -> list[list[int]]:
    """For each question, the paragraph numbers of its top `depth` distinct paragraphs."""
    retriever = service.retriever
    qvecs = service.embedder.encode_queries(list(questions))
    out = []
    for question, qvec in zip(questions, qvecs):
        ranked = retriever.rank(question, qvec, depth * 3, mode)
        rows = retriever.snapshot.passages([pid for pid, _ in ranked])
        paras: list[int] = []
        for pid, _ in ranked:
            para = int(rows[pid].source.doc_id.rsplit("-", 1)[1])
            if para not in paras:
                paras.append(para)
        out.append(paras[:depth])
    return out


def eval_xquad(settings: Settings, folder: Path, langs: Sequence[str], retrievers: Sequence[str],
               limit: int | None = None, progress: bool = True) -> dict[str, Any]:
    """Recall@1, Recall@5 and MRR@10 of finding a question's own paragraph among the 240."""
    from tqdm import tqdm

    results: dict[str, Any] = {}
    with scratch_settings(settings) as (scratch, tmp):
        service = build_xquad_service(scratch, folder, tmp)
        for lang in langs:
            _, questions = load_xquad(folder, lang)
            questions = questions[:limit] if limit else questions
            results[lang] = {}
            for mode in retrievers:
                ranked = rank_paragraphs(service, [q for q, _ in tqdm(
                    questions, desc=f"XQuAD {lang} {mode}", disable=not progress or None, leave=False)], mode)
                gold = np.array([g for _, g in questions])
                ranks = [r.index(g) + 1 if g in r else 0 for r, g in zip(ranked, gold)]
                results[lang][mode] = {
                    "recall@1": float(np.mean([r == 1 for r in ranks])),
                    "recall@5": float(np.mean([1 <= r <= 5 for r in ranks])),
                    "mrr@10": float(np.mean([1 / r if r else 0.0 for r in ranks])),
                    "questions": len(questions),
                }
        service.snapshot.close()
    return results


def format_report(result: dict[str, Any], settings: Settings) -> str:
    lines = [f"backend {settings.backend}, model {settings.model_name}"]
    if "questions" in result:
        q = result["questions"]
        hit_k = f"hit@{q['k']}"
        lines.append(f"\nQuestions ({q['questions']}): hit@1 {q['hit@1']:.3f}  {hit_k} {q[hit_k]:.3f}  "
                     f"MRR {q['mrr']:.3f}  highlight {q['highlight']:.3f}  "
                     f"abstention accuracy {q['abstain_accuracy']:.3f}")
        for lang, m in q["per_lang"].items():
            lines.append(f"  {lang}: n={m['questions']:<3} hit@1 {m['hit@1']:.3f}  {hit_k} {m[hit_k]:.3f}  "
                         f"MRR {m['mrr']:.3f}  highlight {m['highlight']:.3f}  abstention {m['abstain_accuracy']:.3f}")
        if q["failures"]:
            lines.append(f"  not at rank 1 or wrongly answered: {', '.join(map(str, q['failures']))}")
        if q.get("highlight_misses"):
            lines.append(f"  right passage, other sentence highlighted: {', '.join(map(str, q['highlight_misses']))}")
    if "xquad" in result:
        lines.append("\nXQuAD (240 German paragraphs)   R@1    R@5    MRR@10")
        for lang, modes in result["xquad"].items():
            for mode, m in modes.items():
                lines.append(f"  {lang} {mode:<8} (n={m['questions']:<4})        {m['recall@1']:.3f}  "
                             f"{m['recall@5']:.3f}  {m['mrr@10']:.3f}")
    return "\n".join(lines)


def calibrate_xquad(settings: Settings, folder: Path, langs: Sequence[str], limit: int | None = None,
                    progress: bool = True, target_answered: float = 0.95) -> dict[str, Any]:
    """Choose the abstention threshold for the configured model: index the paragraphs of every other
    XQuAD article, so the questions on the held-out articles are unanswerable (a topic the corpus does
    not cover, as when a user asks the bot about something else). The threshold is the highest one that
    still answers `target_answered` of the answerable questions (mean over languages): a weak quote
    with its source costs the user less than a wrong "found nothing"."""
    kept = {i for i, article in enumerate(xquad_articles(folder)) if article % 2 == 0}
    scores: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with scratch_settings(settings) as (scratch, tmp):
        service = build_xquad_service(scratch, folder, tmp, keep=sorted(kept))
        retriever = service.retriever
        for lang in langs:
            _, questions = load_xquad(folder, lang)
            questions = questions[:limit] if limit else questions
            qvecs = service.embedder.encode_queries([q for q, _ in questions])
            top = np.array([(retriever.rank(q, v, 1) or [(0, 0.0)])[0][1] for (q, _), v in zip(questions, qvecs)])
            scores[lang] = (top, np.array([g in kept for _, g in questions]))
        service.snapshot.close()
    grid = np.round(np.arange(-0.05, 0.8, 0.005), 3)

    def balanced(threshold: float, lang: str) -> float:
        top, answerable = scores[lang]
        return 0.5 * (np.mean(top[answerable] >= threshold) + np.mean(top[~answerable] < threshold))

    def answered(threshold: float) -> float:
        return float(np.mean([np.mean(scores[lang][0][scores[lang][1]] >= threshold) for lang in langs]))

    best = float(max([t for t in grid if answered(t) >= target_answered], default=grid[0]))
    per_lang = {}
    for lang in langs:
        top, answerable = scores[lang]
        per_lang[lang] = {"balanced_accuracy": float(balanced(best, lang)),
                          "answered_when_answerable": float(np.mean(top[answerable] >= best)),
                          "abstained_when_unanswerable": float(np.mean(top[~answerable] < best))}
    table = []
    for threshold in np.round(np.arange(0.05, 0.51, 0.025), 3):
        row: dict[str, Any] = {"min_score": float(threshold)}
        for lang in langs:
            top, answerable = scores[lang]
            row[lang] = (float(np.mean(top[answerable] >= threshold)), float(np.mean(top[~answerable] < threshold)))
        table.append(row)
    return {"model": settings.model_name, "backend": settings.backend, "min_score": best,
            "per_lang": per_lang, "table": table}
