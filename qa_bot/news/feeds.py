"""RSS and Atom feeds (feedparser) and the list of feeds an operator subscribed to, with the items
already fetched, so that each refresh fetches only what is new."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArticlesError

REGISTRY_NAME = ".feeds.json"  # in the articles folder; a dot file, so never read as an article
KEEP_SEEN = 5000  # item ids remembered per feed (a feed lists its latest few dozen)


@dataclass(frozen=True)
class FeedItem:
    id: str
    link: str
    title: str | None = None
    published: str | None = None
    summary: str | None = None  # HTML; the article text when the page itself cannot be fetched


def is_feed(body: bytes) -> bool:
    head = body[:2048].lstrip().lower()
    return head.startswith(b"<?xml") and any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf")) \
        or head.startswith((b"<rss", b"<feed", b"<rdf:rdf"))


def parse_feed(body: bytes, name: str) -> tuple[str | None, list[FeedItem]]:
    """(feed title, items newest first as the feed lists them); ArticlesError when it is not a feed."""
    try:
        import feedparser
    except ImportError:
        raise ArticlesError("Reading feeds needs the `news` extra: pip install 'qa-bot[news]'") from None
    parsed = feedparser.parse(body)
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        raise ArticlesError(f"{name}: not an RSS or Atom feed" + (f" ({problem})." if problem else "."))
    items = []
    for entry in parsed.entries:
        link = entry.get("link") or ""
        ident = entry.get("id") or link
        if not ident:
            continue
        published = None
        stamp = entry.get("published_parsed") or entry.get("updated_parsed")
        if stamp:
            published = time.strftime("%Y-%m-%d", stamp)
        content = entry.get("content") or []
        summary = (content[0].get("value") if content else None) or entry.get("summary")
        items.append(FeedItem(id=ident, link=link, title=entry.get("title"), published=published, summary=summary))
    return parsed.feed.get("title"), items


class FeedRegistry:
    """`.feeds.json` in the articles folder: {feed URL or path: {"title", "added", "seen": [item ids]}}.
    Read and written under a file lock, so the bot and `qa-bot index --watch` can share it."""

    def __init__(self, articles_dir: Path) -> None:
        self.path = Path(articles_dir) / REGISTRY_NAME

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(REGISTRY_NAME + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self._read()
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                tmp = self.path.with_name(f".feeds-{os.getpid()}.tmp")
                tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False), "utf-8")
                os.replace(tmp, self.path)

    def _read(self) -> dict:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ArticlesError(f"{self.path} is damaged ({exc}); fix or delete it (its feeds must then be "
                                "added again).") from None
        return data if isinstance(data, dict) else {}

    def feeds(self) -> dict[str, dict]:
        return self._read()

    def add(self, feed: str, title: str | None) -> bool:
        """Subscribe to `feed`; False when it already was."""
        with self._locked() as data:
            if feed in data:
                return False
            data[feed] = {"title": title, "added": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seen": []}
            return True

    def unseen(self, feed: str, items: list[FeedItem]) -> list[FeedItem]:
        seen = set(self._read().get(feed, {}).get("seen", []))
        return [item for item in items if item.id not in seen]

    def mark_seen(self, feed: str, ids: list[str]) -> None:
        if not ids:
            return
        with self._locked() as data:
            entry = data.setdefault(feed, {"title": None, "added": None, "seen": []})
            seen = [i for i in entry.get("seen", []) if i not in set(ids)] + ids
            entry["seen"] = seen[-KEEP_SEEN:]
            entry["checked"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
