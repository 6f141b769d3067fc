"""Main text and metadata of a web page (trafilatura) or a PDF (pypdf).

trafilatura drops navigation, cookie banners, related links and footers, and reads the title, the
canonical URL, the site name and the publication date from the page's own metadata (`<link
rel=canonical>`, Open Graph, JSON-LD, `<time>`), so a quote's source line is the article's real headline.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import ArticlesError

MIN_TEXT_CHARS = 120  # less is a menu or a teaser (trafilatura falls back to any text it finds)


@dataclass(frozen=True)
class Extracted:
    """An article's main text (paragraphs separated by blank lines) and what is known about it."""

    text: str
    title: str | None = None
    url: str | None = None
    outlet: str | None = None
    published: str | None = None
    lang: str | None = None

    def meta(self) -> dict[str, str]:
        return {k: v for k, v in (("title", self.title), ("url", self.url), ("outlet", self.outlet),
                                  ("published", self.published), ("lang", self.lang)) if v}


def _missing(package: str) -> ArticlesError:
    return ArticlesError(f"Reading web pages, feeds and PDFs needs the `news` extra ({package} is missing): "
                         "pip install 'qa-bot[news]'")


def extract_html(html: str | bytes, url: str | None = None, name: str = "page") -> Extracted:
    """The article in an HTML page; ArticlesError when the page has no article text."""
    try:
        import trafilatura
    except ImportError as exc:
        raise _missing(exc.name or "trafilatura") from None
    if isinstance(html, bytes):
        html = _decode_html(html)
    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True, include_comments=False,
                                      include_tables=False, favor_precision=True)
    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if len(text) < MIN_TEXT_CHARS:
        raise ArticlesError(f"{name}: no article text found in this HTML page (is it an index page or "
                            "does it need JavaScript?).")
    title = _clean(getattr(doc, "title", None))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if title and lines and _same(lines[0], title):
        lines = lines[1:]  # the headline is the title, not a paragraph to quote
    page_url = _http(getattr(doc, "url", None)) or _http(url)
    outlet = _clean(getattr(doc, "sitename", None)) or _clean(getattr(doc, "hostname", None))
    if not outlet and page_url:
        outlet = urlsplit(page_url).hostname
    return Extracted(text="\n\n".join(lines), title=title, url=page_url, outlet=outlet,
                     published=_clean(getattr(doc, "date", None)), lang=_lang(getattr(doc, "language", None)))


def extract_pdf(data: bytes, name: str = "document.pdf") -> Extracted:
    """The text of a PDF, paragraphs rebuilt from its lines; the title from its metadata if it has one."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError as exc:
        raise _missing(exc.name or "pypdf") from None
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ArticlesError(f"{name}: the PDF is encrypted; save an unprotected copy first.")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise ArticlesError(f"{name}: not a readable PDF ({exc}).") from None
    text = _pdf_paragraphs("\n".join(pages))
    if not text:
        raise ArticlesError(f"{name}: the PDF has no text layer (a scan?); qa-bot cannot read images.")
    title = _clean(info.title) if info is not None else None
    return Extracted(text=text, title=title)


def _pdf_paragraphs(raw: str) -> str:
    """PDF text comes as lines: join the lines of a paragraph (and words hyphenated at a line end), and
    start a new paragraph at a blank line or after a line that ends a sentence and is visibly short."""
    lines = [line.rstrip() for line in raw.replace("\r", "\n").split("\n")]
    widths = sorted(len(line) for line in lines if line.strip())
    full = widths[int(len(widths) * 0.8)] if widths else 0
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        stripped = line.strip()
        if not stripped:
            if current:
                paragraphs.append(current)
            current = ""
            continue
        if current.endswith("-") and stripped[:1].islower():
            current = current[:-1] + stripped
        else:
            current = f"{current} {stripped}" if current else stripped
        if re.search(r"[.!?:“”\"»«)]$", stripped) and len(stripped) < 0.7 * full:
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def _decode_html(raw: bytes) -> str:
    """Bytes of a saved page: the charset it declares, else UTF-8, else what charset detection says."""
    head = raw[:4096].decode("ascii", "ignore").lower()
    match = re.search(r"charset=[\"']?([a-z0-9_-]+)", head)
    for encoding in ([match.group(1)] if match else []) + ["utf-8"]:
        try:
            return raw.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    return str(best) if best is not None else raw.decode("utf-8", "replace")


def _clean(value: object) -> str | None:
    text = " ".join(str(value).split()) if value else ""
    return text or None


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _http(url: object) -> str | None:
    text = _clean(url)
    return text if text and text.lower().startswith(("http://", "https://")) else None


def _lang(value: object) -> str | None:
    text = _clean(value)
    return text.split("-")[0].lower() if text else None
