"""HTTP(S) downloads with the limits a bot that fetches what users send needs: a timeout, a size cap
read while streaming (a huge file is refused before it is in memory), and only the types we can read."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import QABotError

USER_AGENT = "qa-bot/0.1 (+news question answering; fetches articles its operator adds)"
TIMEOUT = 20.0
MAX_BYTES = 10 * 1024 * 1024
HTML_TYPES = ("text/html", "application/xhtml+xml")
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml",
              "text/xml", "application/feed+json")
PDF_TYPES = ("application/pdf",)
TEXT_TYPES = ("text/plain", "text/markdown")


class FetchError(QABotError):
    """A URL could not be fetched or is not something qa-bot can read."""


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    content_type: str  # lower case, without parameters
    body: bytes
    charset: str | None = None


def fetch(url: str, max_bytes: int = MAX_BYTES, timeout: float = TIMEOUT,
          headers: dict[str, str] | None = None) -> Fetched:
    """GET `url` (http or https only), following redirects; FetchError with one clear sentence otherwise."""
    import urllib3
    from urllib3.exceptions import HTTPError, LocationParseError

    if not url.lower().startswith(("http://", "https://")):
        raise FetchError(f"{url} is not an http(s) URL.")
    pool = urllib3.PoolManager(headers={"User-Agent": USER_AGENT, **(headers or {})},
                               timeout=urllib3.Timeout(connect=timeout, read=timeout),
                               retries=urllib3.Retry(total=2, redirect=5, backoff_factor=0.5,
                                                     status_forcelist=(502, 503, 504)))
    try:
        response = pool.request("GET", url, preload_content=False, decode_content=True)
    except LocationParseError:
        raise FetchError(f"{url} is not a valid URL.") from None
    except HTTPError as exc:
        reason = getattr(exc, "reason", None) or exc
        raise FetchError(f"Cannot fetch {url}: {reason}.") from None
    try:
        if response.status >= 400:
            raise FetchError(f"Cannot fetch {url}: the server answered HTTP {response.status}.")
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"{url} is too large ({int(declared) / 1048576:.1f} MB; the limit is "
                             f"{max_bytes / 1048576:.0f} MB).")
        chunks, size = [], 0
        for chunk in response.stream(64 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{url} is too large (over {max_bytes / 1048576:.0f} MB).")
            chunks.append(chunk)
        body = b"".join(chunks)
    except HTTPError as exc:
        raise FetchError(f"Cannot fetch {url}: {exc}.") from None
    finally:
        response.release_conn()
    raw_type = response.headers.get("Content-Type", "")
    content_type = raw_type.split(";")[0].strip().lower()
    charset = None
    for part in raw_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"').lower()
    final = response.geturl() or url
    return Fetched(url=final if final.startswith("http") else url, content_type=sniff(content_type, body),
                   body=body, charset=charset)


def sniff(content_type: str, body: bytes) -> str:
    """The real type when the server says something vague (octet-stream, text/plain for a feed)."""
    head = body[:1024].lstrip().lower()
    if head.startswith(b"%pdf"):
        return "application/pdf"
    if content_type in ("", "application/octet-stream", "text/plain", "application/xml", "text/xml"):
        if b"<rss" in head or b"<feed" in head or b"<rdf:rdf" in head:
            return "application/rss+xml" if b"<rss" in head else "application/atom+xml"
        if b"<html" in head or b"<!doctype html" in head:
            return "text/html"
    return content_type
