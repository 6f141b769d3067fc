"""Plain-text rendering of answers for the terminal (the bot renders its own HTML)."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Sequence
from typing import IO

from .text import printable
from .types import Answer, DocumentInfo, IndexInfo, SearchResult

NOTHING_FOUND = ("Nothing in the articles answers that well enough. Try other words, or ask about a "
                 "person, place or event the articles cover (`qa-bot sources` lists them).")


MAX_WIDTH = 100  # wider lines are hard to read, even on a wide terminal
MIN_WIDTH = 40


def use_color(stream: IO[str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def text_width() -> int:
    """Line width for the terminal (COLUMNS when set; 88 when not a terminal), one column short of it so a
    full line never wraps by itself, kept between MIN_WIDTH and MAX_WIDTH."""
    columns = shutil.get_terminal_size((89, 24)).columns - 1
    return max(MIN_WIDTH, min(MAX_WIDTH, columns))


def _style(text: str, code: str, color: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if color else text


def source_line(result: SearchResult) -> str:
    src = result.source
    extras = ", ".join(x for x in (src.outlet, src.published) if x)
    line = f"{src.title}{f' ({extras})' if extras else ''} — paragraph {src.paragraph}"
    if src.url:
        line += f" — {src.url}"
    else:
        line += f" — {src.path or src.doc_id}"
    return printable(line)


def _window(result: SearchResult, lo: int, hi: int) -> tuple[str, int, int]:
    """result.text[lo:hi] with "…" where it was cut, and the highlight's span inside it."""
    raw = result.text[lo:hi]
    text = raw.strip()
    shift = lo + len(raw) - len(raw.lstrip())
    hs, he = result.highlight_start - shift, result.highlight_end - shift
    if lo > 0:
        text, hs, he = "… " + text, hs + 2, he + 2
    if hi < len(result.text):
        text += " …"
    return text, hs, he


def render_result_text(result: SearchResult, color: bool = False, width: int = 88, part: str = "full") -> str:
    """A quoted passage with its best sentence marked (bold in colour, **…** without) and its source.
    `part`: "full" the whole passage, "lead" the answering sentence with its neighbours (the first
    answer), "sentence" the answering sentence alone (further answers, one glance each)."""
    if part == "full":
        text, hs, he = result.text, result.highlight_start, result.highlight_end
    elif part == "lead":
        text, hs, he = _window(result, *result.lead())
    else:
        text, hs, he = _window(result, result.highlight_start, result.highlight_end)
    whole = (hs, he) == (0, len(text))
    before, best, after = printable(text[:hs]), printable(text[hs:he]), printable(text[he:])  # no escapes
    if color:
        marked = before + _style(best, "1;33", True) + after
    elif whole:
        marked = best
    else:
        marked = f"{before}**{best}**{after}"
    body = textwrap.fill(marked, width=width, initial_indent="  > ", subsequent_indent="  > ",
                         break_long_words=False, break_on_hyphens=False)
    head = _style(f"[{result.rank}]", "1;36", color) + _style(f" score {result.score:.2f}", "2", color)
    source = textwrap.fill(source_line(result), width=width, initial_indent="  — ", subsequent_indent="    ",
                           break_long_words=False, break_on_hyphens=False)
    return f"{head}\n{body}\n{_style(source, '32', color)}"


def render_answer_text(answer: Answer, color: bool = False, width: int = 88, full: bool = False) -> str:
    """The first passage leads (its answering sentence in context), the others follow as their answering
    sentence only; `full` prints every passage whole."""
    if not answer.answered:
        return _style(textwrap.fill(NOTHING_FOUND, width=width, break_long_words=False), "33", color)
    parts = ["full" if full else ("lead" if i == 0 else "sentence") for i in range(len(answer.results))]
    return "\n\n".join(render_result_text(r, color, width, part=p) for r, p in zip(answer.results, parts))


def render_sources_text(docs: Sequence[DocumentInfo], info: IndexInfo) -> str:
    lines = [f"{len(docs)} article(s), {info.passages} passages; backend {info.backend}, model "
             f"{info.model}, built {info.built_at}"]
    for d in docs:
        lines.append(printable(f"  {d.passages:>4}  {d.doc_id}  {d.title}" + (f"  <{d.url}>" if d.url else "")))
    return "\n".join(lines)
