"""Articles in, passages out: reading files, metadata, paragraphs and sentence-bounded passages.

A passage is what the bot quotes, so it must read well on its own: it is a whole paragraph, or, for a
long paragraph, a run of whole sentences. Every passage keeps its document, paragraph number and
character span in the article body, so a quote can always be traced back.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ArticlesError
from .lang import SUPPORTED, detect_language

TEXT_SUFFIXES = (".txt", ".md")
PAGE_SUFFIXES = (".html", ".htm")  # saved web pages: main text and metadata extracted (news extra)
ARTICLE_SUFFIXES = TEXT_SUFFIXES + PAGE_SUFFIXES + (".pdf",)
KINDS = ".txt, .md, .html or .pdf"
SIDECAR_SUFFIXES = (".meta.json", ".meta.yaml", ".meta.yml")
META_KEYS = ("title", "url", "outlet", "published", "lang")
TITLE_CHARS = 90


@dataclass
class Document:
    doc_id: str
    path: str
    body: str
    title: str
    url: str | None = None
    outlet: str | None = None
    published: str | None = None
    lang: str = "de"
    content_hash: str = ""


@dataclass
class Passage:
    doc_id: str
    paragraph: int  # 1-based, as a reader counts
    start: int  # character span in Document.body
    end: int
    text: str
    lang: str
    sentences: list[tuple[int, int]] = field(default_factory=list)  # spans inside `text`


# ---------------------------------------------------------------- reading files

def _inside(path: Path, articles_root: Path | None) -> tuple[Path, Path] | None:
    """(path, articles root) in forms that `relative_to` accepts when `path` is inside the articles
    folder, so an article there has one id however it is named on the command line; else None."""
    if articles_root is None:
        return None
    for candidate, root in ((path, articles_root), (path.resolve(), articles_root.resolve())):
        try:
            candidate.relative_to(root)
            return candidate, root
        except ValueError:
            continue
    return None


def find_articles(paths: Iterable[Path], articles_root: Path | None = None) -> list[tuple[Path, Path]]:
    """(file, root) for every article under `paths`; a wrong path is an error, not an empty index."""
    found: list[tuple[Path, Path]] = []
    for raw in paths:
        path = Path(raw)
        inside = _inside(path, articles_root)
        if path.is_file():
            if path.suffix.lower() not in ARTICLE_SUFFIXES:
                raise ArticlesError(f"{path} is not an article ({KINDS}); feeds are added as URLs or "
                                    ".rss/.atom/.xml files.")
            found.append(inside or (path, path.parent))
        elif path.is_dir():
            top, root = inside or (path, path)
            found.extend((p, root) for p in sorted(top.rglob("*"))
                         if p.is_file() and p.suffix.lower() in ARTICLE_SUFFIXES
                         and not any(part.startswith(".") for part in p.relative_to(top).parts))
        else:
            raise ArticlesError(f"No such file or folder: {path}")
    return found


def _split_front_matter(text: str) -> tuple[dict, str]:
    match = re.match(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n?", text, re.S)
    if not match:
        return {}, text
    import yaml

    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        raise ArticlesError(f"front matter is not valid YAML{line}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(meta, dict):
        raise ArticlesError("Front matter must be a mapping of keys such as title and url.")
    return meta, text[match.end():]


def _sidecar(path: Path) -> tuple[dict, bytes]:
    stem = path.with_suffix("")
    for suffix in SIDECAR_SUFFIXES:
        side = stem.with_name(stem.name + suffix)
        if side.is_file():
            raw = side.read_bytes()
            try:
                if suffix == ".meta.json":
                    meta = json.loads(raw)
                else:
                    import yaml

                    meta = yaml.safe_load(raw) or {}
            except ValueError as exc:  # json and yaml errors both derive from ValueError
                raise ArticlesError(f"{side}: not valid {suffix[6:].upper()}: {exc}") from None
            if not isinstance(meta, dict):
                raise ArticlesError(f"{side}: must hold a mapping of keys such as title and url.")
            return meta, raw
    return {}, b""


def read_article(path: Path, root: Path) -> Document:
    """Read one article with its metadata (front matter beats sidecar beats derived values; for a web page
    or PDF, the sidecar beats what the page itself says)."""
    raw = path.read_bytes()
    if path.suffix.lower() not in TEXT_SUFFIXES:
        return _read_page(path, root, raw)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = raw.decode("utf-16")
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ArticlesError(f"{path}: not UTF-8 text. Convert it, e.g. with: "
                                f"iconv -f latin1 -t utf-8 {path}") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    side_meta, side_raw = _sidecar(path)
    try:
        front_meta, body = _split_front_matter(text)
    except ArticlesError as exc:
        raise ArticlesError(f"{path}: {exc}") from None
    meta = {**side_meta, **front_meta}
    rel = path.relative_to(root).with_suffix("").as_posix()
    return make_document(
        doc_id=rel, body=body, path=str(path), meta=meta,
        content_hash=hashlib.sha256(raw + b"\0" + side_raw).hexdigest(),
    )


def _read_page(path: Path, root: Path, raw: bytes) -> Document:
    from .news.extract import extract_html, extract_pdf

    extracted = extract_pdf(raw, str(path)) if path.suffix.lower() == ".pdf" else extract_html(raw, name=str(path))
    side_meta, side_raw = _sidecar(path)
    meta = {**extracted.meta(), **side_meta}
    return make_document(doc_id=path.relative_to(root).with_suffix("").as_posix(), body=extracted.text,
                         path=str(path), meta=meta,
                         content_hash=hashlib.sha256(raw + b"\0" + side_raw).hexdigest())


def make_document(doc_id: str, body: str, path: str = "", meta: dict | None = None,
                  content_hash: str = "") -> Document:
    """A Document from text already in memory (the eval builds XQuAD documents this way)."""
    meta = {k: (str(v) if v is not None else None) for k, v in (meta or {}).items() if k in META_KEYS}
    lang = (meta.get("lang") or "").lower() or detect_language(body)
    title = meta.get("title") or _derive_title(body, lang) or doc_id
    return Document(doc_id=doc_id, path=path, body=body, title=title, url=meta.get("url"),
                    outlet=meta.get("outlet"), published=meta.get("published"), lang=lang,
                    content_hash=content_hash or hashlib.sha256(body.encode()).hexdigest())


def _derive_title(body: str, lang: str) -> str:
    for block, _ in _paragraph_blocks(body):
        heading = re.match(r"#{1,6}\s+(.+)", block.strip())
        if heading:
            return heading.group(1).strip()
        spans = split_sentences(block, lang)
        first = block[spans[0][0]:spans[0][1]] if spans else block
        first = " ".join(first.split())
        if len(first) <= TITLE_CHARS:
            return first
        cut = first[:TITLE_CHARS].rsplit(" ", 1)[0]
        return cut.rstrip(",;:–—-") + " …"
    return ""


# ---------------------------------------------------------------- paragraphs and passages

def _paragraph_blocks(body: str) -> list[tuple[str, int]]:
    """(text, start) of each paragraph: blank-line blocks, or single lines when there are none."""
    separator = r"\n[ \t]*\n+" if re.search(r"\n[ \t]*\n", body) else r"\n+"
    blocks, pos = [], 0
    for match in re.finditer(separator, body):
        blocks.append((body[pos:match.start()], pos))
        pos = match.end()
    blocks.append((body[pos:], pos))
    out = []
    for text, start in blocks:
        stripped = text.strip()
        if not stripped:
            continue
        lead = len(text) - len(text.lstrip())
        out.append((stripped, start + lead))
    return out


_SEGMENTERS: dict[str, object] = {}


def split_sentences(text: str, lang: str) -> list[tuple[int, int]]:
    """Sentence spans of `text` from pysbd, a rule-based splitter that knows abbreviations and
    numbers ("10.000", "Gen. Ryder") in each supported language."""
    import pysbd

    lang = lang if lang in SUPPORTED else "en"
    seg = _SEGMENTERS.get(lang)
    if seg is None:
        seg = _SEGMENTERS[lang] = pysbd.Segmenter(language=lang, clean=False)
    spans, cursor = [], 0
    for sent in seg.segment(text):  # type: ignore[attr-defined]
        piece = sent.strip()
        if not piece:
            continue
        at = text.find(piece, cursor)
        if at < 0:  # pysbd altered the text: fall back to the rest as one sentence
            spans.append((cursor, len(text.rstrip())))
            return [s for s in spans if s[1] > s[0]]
        spans.append((at, at + len(piece)))
        cursor = at + len(piece)
    return spans or ([(0, len(text))] if text.strip() else [])


def _pack(sentences: list[tuple[int, int]], max_chars: int) -> list[list[tuple[int, int]]]:
    """Group consecutive sentences into chunks of balanced size, none (of 2+ sentences) over max."""
    total = sentences[-1][1] - sentences[0][0]
    if total <= max_chars:
        return [sentences]
    target = total / math.ceil(total / max_chars)
    chunks: list[list[tuple[int, int]]] = [[]]
    for span in sentences:
        current = chunks[-1]
        if current:
            length = span[1] - current[0][0]
            if length > max_chars or (span[1] - current[0][0] > target * 1.15 and
                                      current[-1][1] - current[0][0] >= target * 0.6):
                chunks.append([])
        chunks[-1].append(span)
    return chunks


def split_document(doc: Document, max_chars: int = 500) -> list[Passage]:
    """Paragraph-first passages; long paragraphs split between sentences, never inside one."""
    passages = []
    for number, (block, block_start) in enumerate(_paragraph_blocks(doc.body), start=1):
        if re.match(r"#{1,6}\s", block) and "\n" not in block:
            continue  # a Markdown heading is a title, not something to quote
        sentences = split_sentences(block, doc.lang)
        if not sentences:
            continue
        for chunk in _pack(sentences, max_chars):
            start, end = chunk[0][0], chunk[-1][1]
            text = block[start:end].replace("\n", " ")
            passages.append(Passage(
                doc_id=doc.doc_id, paragraph=number, start=block_start + start, end=block_start + end,
                text=text, lang=doc.lang, sentences=[(s - start, e - start) for s, e in chunk]))
    return passages


def load_articles(paths: Iterable[Path], articles_root: Path | None = None,
                  progress: bool = False) -> list[Document]:
    """Every article under `paths`, read and checked; duplicate ids are an error. Files inside
    `articles_root` (the articles folder) get the same id as when the whole folder is indexed."""
    paths = list(paths)
    files = find_articles(paths, articles_root)
    if not files:
        shown = ", ".join(str(p) for p in paths)
        raise ArticlesError(f"No articles ({KINDS}) found in {shown}.")
    docs, seen = [], {}
    pages = sum(1 for p, _ in files if p.suffix.lower() not in TEXT_SUFFIXES)
    todo = files
    if progress and len(files) >= 50:  # reading is quick for text, ~20 ms a page for HTML and PDF
        from tqdm import tqdm

        todo = tqdm(files, desc=f"Reading {len(files)} article(s)" + (f", {pages} web page(s)/PDF" if pages else ""),
                    unit="file", leave=False)
    for path, root in todo:
        try:
            doc = read_article(path, root)
        except OSError as exc:
            raise ArticlesError(f"Cannot read {path}: {exc.strerror or exc}") from None
        if doc.doc_id in seen:
            raise ArticlesError(f"Two articles share the id {doc.doc_id!r}: {seen[doc.doc_id]} and {path}.")
        seen[doc.doc_id] = path
        docs.append(doc)
    return docs
