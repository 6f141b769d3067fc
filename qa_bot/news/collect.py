"""Turn what an operator adds (a URL, a feed, a saved file, an upload from Telegram) into article files
in the articles folder, ready for `QAService.index`.

Fetched pages are saved as `web/<host>/<slug>-<hash>.md` and uploads as `uploads/<slug>.md`, with the
metadata as YAML front matter: the same article fetched again lands in the same file (changed or not),
and a full `qa-bot index` sees exactly what was added.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ArticlesError, QABotError
from .extract import Extracted, extract_html, extract_pdf
from .feeds import FeedItem, FeedRegistry, is_feed, parse_feed
from .fetch import FEED_TYPES, HTML_TYPES, PDF_TYPES, TEXT_TYPES, Fetched, FetchError, fetch

log = logging.getLogger(__name__)

FEED_SUFFIXES = (".rss", ".atom", ".xml")
UPLOAD_SUFFIXES = (".html", ".htm", ".pdf", ".txt", ".md")
MIN_SUMMARY_CHARS = 400  # a feed summary shorter than this is a teaser, not the article


@dataclass
class Collected:
    """What one call added: article files to index, feeds subscribed, items skipped, and problems."""

    paths: list[Path] = field(default_factory=list)
    feeds_added: list[str] = field(default_factory=list)
    items_seen: int = 0  # feed items skipped because they were fetched before
    problems: list[str] = field(default_factory=list)  # one line each; the rest still went in

    def merge(self, other: Collected) -> None:
        self.paths += other.paths
        self.feeds_added += other.feeds_added
        self.items_seen += other.items_seen
        self.problems += other.problems


def is_url(text: str) -> bool:
    return bool(re.match(r"https?://\S+$", text.strip(), re.I))


def slug(text: str, limit: int = 60) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return words[:limit].rstrip("-") or "article"


class Collector:
    """Fetches and saves into `articles_dir`. `fetcher` is replaceable (tests); `max_bytes` caps every
    download and upload."""

    def __init__(self, articles_dir: Path, max_bytes: int, fetcher: Callable[..., Fetched] = fetch,
                 progress: bool = False) -> None:
        self.articles_dir = Path(articles_dir)
        self.max_bytes = max_bytes
        self.fetcher = fetcher
        self.progress = progress
        self.registry = FeedRegistry(self.articles_dir)

    # ------------------------------------------------------------------ inputs
    def add_url(self, url: str) -> Collected:
        """A page (HTML, PDF, text) is saved; a feed is subscribed to and its items fetched."""
        got = self.fetcher(url, max_bytes=self.max_bytes)
        if got.content_type in FEED_TYPES or is_feed(got.body):
            return self._add_feed(url, got.body)
        return Collected(paths=[self._save_fetched(got)])

    def add_feed_file(self, path: Path) -> Collected:
        """A feed saved as a file: subscribe to it (by absolute path) and fetch its items."""
        try:
            body = Path(path).read_bytes()
        except OSError as exc:
            raise ArticlesError(f"Cannot read {path}: {exc.strerror or exc}") from None
        return self._add_feed(str(Path(path).resolve()), body)

    def refresh_feeds(self) -> Collected:
        """Fetch the new items of every subscribed feed; a feed that fails is a problem line, not an error."""
        out = Collected()
        for feed in self.registry.feeds():
            try:
                if is_url(feed):
                    body = self.fetcher(feed, max_bytes=self.max_bytes).body
                else:
                    body = Path(feed).read_bytes()
                _title, items = parse_feed(body, feed)
            except (QABotError, OSError) as exc:
                out.problems.append(f"feed {feed}: {exc}")
                continue
            out.merge(self._fetch_items(feed, items))
        return out

    def add_upload(self, name: str, data: bytes) -> Collected:
        """A document sent to the bot: HTML, PDF, TXT or MD, at most `max_bytes`."""
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise ArticlesError(f"{name}: qa-bot reads {', '.join(UPLOAD_SUFFIXES)} documents, not {suffix or 'this'}.")
        if len(data) > self.max_bytes:
            raise ArticlesError(f"{name} is too large ({len(data) / 1048576:.1f} MB; the limit is "
                                f"{self.max_bytes / 1048576:.0f} MB).")
        if suffix in (".txt", ".md"):
            try:
                data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise ArticlesError(f"{name}: not UTF-8 text; save it as UTF-8 and send it again.") from None
            target = self._unique(self.articles_dir / "uploads" / f"{slug(Path(name).stem)}{suffix}",
                                  lambda p: p.read_bytes() == data)
            _write(target, data)
            return Collected(paths=[target])
        extracted = extract_pdf(data, name) if suffix == ".pdf" else extract_html(data, name=name)
        title = extracted.title or Path(name).stem
        article = render_article(extracted, {"source": name})
        target = self._unique(self.articles_dir / "uploads" / f"{slug(title)}.md", lambda p: _same_article(p, article))
        _write_article(target, article)
        return Collected(paths=[target])

    # ------------------------------------------------------------------ feeds
    def _add_feed(self, feed: str, body: bytes) -> Collected:
        title, items = parse_feed(body, feed)
        out = Collected()
        if self.registry.add(feed, title):
            out.feeds_added.append(feed)
        out.merge(self._fetch_items(feed, items))
        return out

    def _fetch_items(self, feed: str, items: list[FeedItem]) -> Collected:
        out = Collected()
        new = self.registry.unseen(feed, items)
        out.items_seen = len(items) - len(new)
        done: list[str] = []
        for item in _progress(new, f"Fetching {len(new)} new item(s) of {feed}", self.progress):
            try:
                out.paths.append(self._fetch_item(item))
                done.append(item.id)
            except QABotError as exc:  # this item only; the others still come in
                out.problems.append(f"item {item.link or item.id}: {exc}")
        self.registry.mark_seen(feed, done)
        return out

    def _fetch_item(self, item: FeedItem) -> Path:
        fallback = {"title": item.title, "published": item.published, "url": item.link or None}
        if item.link and is_url(item.link):
            try:
                return self._save_fetched(self.fetcher(item.link, max_bytes=self.max_bytes), fallback)
            except (FetchError, ArticlesError):
                if not item.summary:
                    raise
        if item.summary:  # the page is gone or unreadable, but the feed carries the article
            extracted = extract_html(f"<html><body><article>{item.summary}</article></body></html>",
                                     url=item.link or None, name=item.link or item.id)
            if len(extracted.text) >= MIN_SUMMARY_CHARS:
                return self._save(extracted, item.link or item.id, fallback)
        raise ArticlesError("the feed item has no link to an article and no article text.")

    # ------------------------------------------------------------------ saving
    def _save_fetched(self, got: Fetched, fallback: dict | None = None) -> Path:
        if got.content_type in HTML_TYPES:
            extracted = extract_html(got.body, url=got.url, name=got.url)
        elif got.content_type in PDF_TYPES:
            extracted = extract_pdf(got.body, got.url)
        elif got.content_type in TEXT_TYPES:
            text = got.body.decode(got.charset or "utf-8", "replace").strip()
            extracted = Extracted(text=text)
        else:
            raise ArticlesError(f"{got.url} is {got.content_type or 'of unknown type'}; qa-bot reads HTML pages, "
                                "RSS/Atom feeds, PDF and plain text.")
        return self._save(extracted, got.url, fallback)

    def _save(self, extracted: Extracted, source: str, fallback: dict | None = None) -> Path:
        meta = {k: v for k, v in (fallback or {}).items() if v}
        meta.update(extracted.meta())
        meta.setdefault("url", source if is_url(source) else None)
        if not meta.get("outlet") and meta.get("url"):
            meta["outlet"] = urlsplit(meta["url"]).hostname
        key = meta.get("url") or source
        host = (urlsplit(key).hostname or "local").removeprefix("www.")
        name = f"{slug(meta.get('title') or urlsplit(key).path or 'article')}-{_short_hash(key)}.md"
        target = self.articles_dir / "web" / slug(host, 80) / name
        _write_article(target, render_article(Extracted(extracted.text), meta))
        return target

    def _unique(self, target: Path, same: Callable[[Path], bool]) -> Path:
        """`target`, or `name-2.md` … when another upload with other content already has the name."""
        candidate, n = target, 1
        while candidate.exists() and not same(candidate):
            n += 1
            candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
        return candidate


def render_article(extracted: Extracted, meta: dict) -> bytes:
    """Markdown with YAML front matter (the format `qa_bot.ingest` reads)."""
    import yaml

    fields = {k: str(v) for k, v in {**extracted.meta(), **meta}.items() if v}
    fields["fetched"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    front = yaml.safe_dump(fields, allow_unicode=True, sort_keys=False, width=1000)
    return f"---\n{front}---\n{extracted.text.strip()}\n".encode()


def _without_fetched(article: bytes) -> bytes:
    return re.sub(rb"(?m)^fetched: .*\n", b"", article, count=1)


def _same_article(path: Path, article: bytes) -> bool:
    try:
        return _without_fetched(path.read_bytes()) == _without_fetched(article)
    except OSError:
        return False


def _write_article(target: Path, article: bytes) -> None:
    """Write unless the file already holds the same article: fetching a page again changes nothing, so
    it is not re-embedded."""
    if not _same_article(target, article):
        _write(target, article)


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _write(target: Path, data: bytes) -> None:
    """Atomically, so an indexer running at the same moment never reads half an article."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)


def _progress(items: list, label: str, show: bool):
    if not show or len(items) < 2:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=label, unit="item", leave=False)
