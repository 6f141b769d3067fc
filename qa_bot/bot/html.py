"""Telegram HTML for answers: every quoted text escaped, the best sentence in `<b>`, a source line, and
messages split between passages so none exceeds Telegram's limit.

An answer reads at a glance: the best passage leads, cut to its answering sentence and the sentences
around it; further passages follow as collapsed (expandable) quotes with their source inside.

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


def _lead_text(result: SearchResult) -> tuple[str, int, int]:
    """The lead window of the passage with "…" where it was cut, and the highlight's span inside it."""
    lo, hi = result.lead()
    text = result.text[lo:hi].strip()
    shift = lo + (len(result.text[lo:hi]) - len(result.text[lo:hi].lstrip()))
    start, end = result.highlight_start - shift, result.highlight_end - shift
    if lo > 0:
        text, start, end = ELLIPSIS + " " + text, start + 2, end + 2
    if hi < len(result.text):
        text += " " + ELLIPSIS
    return text, start, end


def render_result(result: SearchResult, lang: str, limit: int = MAX_MESSAGE, lead: bool = False) -> str:
    """One passage as a quote plus source; the passage is shortened (never the markup) to fit `limit`.
    `lead`: the answer's first passage, cut to its lead window and shown open; otherwise the whole
    passage in a collapsed quote that holds its source too."""
    if lead:
        text, start, end = _lead_text(result)
        open_tag, close = "<blockquote>", "</blockquote>\n"
    else:
        text, start, end = result.text, result.highlight_start, result.highlight_end
        open_tag, close = "<blockquote expandable>", "\n"
    line = source_line(result, lang)
    block = f"{open_tag}{_quote(text, start, end)}{close}{line}"
    if not lead:
        block += "</blockquote>"
    if tg_len(block) <= limit:
        return block
    # Too long for one message (only with huge passages): cut the plain text, then escape again.
    keep = len(text)
    while keep > 0:
        keep = int(keep * 0.8)
        short = text[:keep].rstrip() + ELLIPSIS
        block = f"{open_tag}{_quote(short, min(start, keep), min(end, keep))}{close}{line}"
        block += "" if lead else "</blockquote>"
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
    """The passages of one answer page as one or more HTML messages: the first leads, the rest collapsed."""
    return split_blocks([render_result(r, lang, limit, lead=i == 0) for i, r in enumerate(results)], limit)


def _source_entry(number: int, d: DocumentInfo, lang: str, link: bool = True) -> str:
    title = escape(d.title or d.doc_id)
    url = _safe_url(d.url) if link else None
    name = f'<a href="{escape(url, quote=True)}">{title}</a>' if url else title
    extras = ", ".join(escape(x) for x in (d.outlet, d.published) if x)
    return f"{number}. {name}" + (f" ({extras})" if extras else "") + f" — {t('passages', lang, n=d.passages)}"


def render_sources(docs: Sequence[DocumentInfo], passages: int, lang: str, limit: int = MAX_MESSAGE) -> list[str]:
    """The whole listing: one line per article, linked when it has a URL, split into messages."""
    head = t("sources_head", lang, documents=len(docs), passages=passages)
    return split_blocks([head] + [_source_entry(i, d, lang) for i, d in enumerate(docs, 1)], limit, sep="\n")


SOURCES_PER_PAGE = 15


def newest_first(docs: Sequence[DocumentInfo]) -> list[DocumentInfo]:
    """Articles with a publication date newest first, then the others by id: what a news reader wants."""
    dated = sorted((d for d in docs if d.published), key=lambda d: (d.published or "", d.doc_id), reverse=True)
    return dated + sorted((d for d in docs if not d.published), key=lambda d: d.doc_id)


def render_sources_page(docs: Sequence[DocumentInfo], passages: int, lang: str, page: int,
                        per_page: int = SOURCES_PER_PAGE, limit: int = MAX_MESSAGE) -> tuple[str, int, int]:
    """One page of /sources as one message: (HTML, page shown, number of pages). Pages are numbered from 1;
    a page past the end shows the last one."""
    pages = max(1, -(-len(docs) // per_page))
    page = min(max(page, 1), pages)
    first = (page - 1) * per_page
    head = t("sources_head", lang, documents=len(docs), passages=passages)
    if pages > 1:
        head += " " + t("sources_page", lang, page=page, pages=pages)
    entries = list(enumerate(docs[first:first + per_page], first + 1))
    for link in (True, False):  # without links when long URLs would push the page over the limit
        text = "\n".join([head] + [_source_entry(i, d, lang, link) for i, d in entries])
        if tg_len(text) <= limit:
            return text, page, pages
    return split_blocks(text.split("\n"), limit, sep="\n")[0], page, pages
