"""Telegram HTML for answers: every quoted text escaped, one `<blockquote>` per passage with the best
sentence in `<b>`, a source line, and messages split between passages so none exceeds Telegram's limit.

Pure functions (no `telegram` import) so the rendering rules are tested without a bot.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape as _escape
from urllib.parse import urlsplit

from ..text import printable
from ..types import DocumentInfo, SearchResult
from .i18n import t

MAX_MESSAGE = 4096  # Telegram's limit; we measure in UTF-16 code units, as Telegram does.
ELLIPSIS = "…"


def escape(text: str, quote: bool = True) -> str:
    """HTML-escaped and printable: control characters from an article never reach Telegram."""
    return _escape(printable(text), quote)


def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units), so emoji never push a message over the limit."""
    return len(text.encode("utf-16-le")) // 2


def _safe_url(url: str | None) -> str | None:
    """Only http(s) links become <a href>: anything else could be rejected by Telegram or be a trick."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def source_line(result: SearchResult, lang: str) -> str:
    """'— Title, paragraph N' with the title linked when the article has a URL; outlet and date if known."""
    src = result.source
    title = escape(src.title or src.doc_id)
    url = _safe_url(src.url)
    linked = f'<a href="{escape(url, quote=True)}">{title}</a>' if url else title
    extras = [escape(x) for x in (src.outlet, src.published) if x]
    tail = f" ({', '.join(extras)})" if extras else ""
    return f"— {linked}{tail}, {t('paragraph', lang, n=src.paragraph)}"


def _quote(text: str, start: int, end: int) -> str:
    if not (0 <= start < end <= len(text)):
        return escape(text)
    return f"{escape(text[:start])}<b>{escape(text[start:end])}</b>{escape(text[end:])}"


def render_result(result: SearchResult, lang: str, limit: int = MAX_MESSAGE) -> str:
    """One passage as a quote plus source; the passage is shortened (never the markup) to fit `limit`."""
    text, start, end = result.text, result.highlight_start, result.highlight_end
    line = source_line(result, lang)
    block = f"<blockquote>{_quote(text, start, end)}</blockquote>\n{line}"
    if tg_len(block) <= limit:
        return block
    # Too long for one message (only with huge passages): cut the plain text, then escape again.
    keep = len(text)
    while keep > 0:
        keep = int(keep * 0.8)
        short = text[:keep].rstrip() + ELLIPSIS
        block = f"<blockquote>{_quote(short, min(start, keep), min(end, keep))}</blockquote>\n{line}"
        if tg_len(block) <= limit:
            return block
    return escape((result.source.title or result.source.doc_id)[: limit // 8])


def split_blocks(blocks: Sequence[str], limit: int = MAX_MESSAGE, sep: str = "\n\n") -> list[str]:
    """Join whole blocks into as few messages as fit `limit`; a message never ends inside a block."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        candidate = f"{current}{sep}{block}" if current else block
        if tg_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            messages.append(current)
        current = block
    if current:
        messages.append(current)
    return messages


def render_results(results: Sequence[SearchResult], lang: str, limit: int = MAX_MESSAGE) -> list[str]:
    """The passages of one answer page as one or more HTML messages."""
    return split_blocks([render_result(r, lang, limit) for r in results], limit)


def render_sources(docs: Sequence[DocumentInfo], passages: int, lang: str, limit: int = MAX_MESSAGE) -> list[str]:
    """The /sources listing: one line per article, linked when it has a URL."""
    head = t("sources_head", lang, documents=len(docs), passages=passages)
    lines = [head]
    for i, d in enumerate(docs, 1):
        title = escape(d.title or d.doc_id)
        url = _safe_url(d.url)
        name = f'<a href="{escape(url, quote=True)}">{title}</a>' if url else title
        extras = ", ".join(escape(x) for x in (d.outlet, d.published) if x)
        lines.append(f"{i}. {name}" + (f" ({extras})" if extras else "") + f" — {t('passages', lang, n=d.passages)}")
    return split_blocks(lines, limit, sep="\n")
