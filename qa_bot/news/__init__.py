"""News sources in: web pages (saved or fetched), RSS/Atom feeds and PDF documents, turned into article
files in the articles folder with their title, canonical URL, outlet and date.

The articles folder stays the one source of truth: whatever is fetched is saved there as a Markdown
article with YAML front matter, so `qa-bot index` (and a rebuild) always sees the same corpus, and an
operator can read or delete what came in. Needs the `news` extra (trafilatura, feedparser, pypdf).
"""

from __future__ import annotations

from .extract import Extracted, extract_html, extract_pdf
from .fetch import Fetched, FetchError, fetch

__all__ = ["Extracted", "FetchError", "Fetched", "extract_html", "extract_pdf", "fetch"]
