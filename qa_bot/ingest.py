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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ArticlesError
from .lang import SPLITTER_FOR, SUPPORTED, detect_language
from .text import one_line, printable, readable_name

TEXT_SUFFIXES = (".txt", ".md")
PAGE_SUFFIXES = (".html", ".htm")  # saved web pages: main text and metadata extracted (news extra)
ARTICLE_SUFFIXES = TEXT_SUFFIXES + PAGE_SUFFIXES + (".pdf",)
KINDS = ".txt, .md, .html or .pdf"
SIDECAR_SUFFIXES = (".meta.json", ".meta.yaml", ".meta.yml")
META_KEYS = ("title", "url", "outlet", "published", "lang")
TITLE_CHARS = 90
# pysbd's work grows with the square of its input (one 8k-sentence line: 53 s); it only ever sees windows
# of about this many characters, each restarting at the last sentence the previous window could not close.
SPLIT_WINDOW = 3000


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


def _yaml(text: str | bytes):
    """YAML without implicit dates: `published: 2024-02-30` stays the text it is (PyYAML would fail on the
    impossible day, and turn valid timestamps into reformatted datetimes)."""
    import yaml

    class TextDates(yaml.SafeLoader):
        pass

    TextDates.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return yaml.load(text, Loader=TextDates)  # noqa: S506 - a SafeLoader subclass


def _split_front_matter(text: str) -> tuple[dict, str]:
    match = re.match(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n?", text, re.S)
    if not match:
        return {}, text
    import yaml

    try:
        meta = _yaml(match.group(1)) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        raise ArticlesError(f"front matter is not valid YAML{line}: {getattr(exc, 'problem', None) or exc}") from None
    except (ValueError, TypeError, RecursionError) as exc:
        raise ArticlesError(f"front matter cannot be read: {exc}") from None
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
                meta = json.loads(raw) if suffix == ".meta.json" else (_yaml(raw) or {})
            except (ValueError, TypeError, RecursionError) as exc:  # json and yaml errors derive from ValueError
                raise ArticlesError(f"{readable_name(str(side))}: not valid {suffix[6:].upper()}: {exc}") from None
            if not isinstance(meta, dict):
                raise ArticlesError(f"{readable_name(str(side))}: must hold a mapping of keys such as title and url.")
            return meta, raw
    return {}, b""


def decode_article(raw: bytes, path: Path) -> str:
    """The text of an article file: UTF-8 (with or without BOM) or, with a BOM, UTF-16/32; line breaks
    normalised, control characters removed. Anything else is one clear error naming the file."""
    name = readable_name(str(path))
    # FF FE 00 00 is the UTF-32 mark, or the UTF-16 one before a NUL: UTF-32 first, then UTF-16.
    boms = ((b"\xff\xfe\x00\x00", ("utf-32", "utf-16")), (b"\x00\x00\xfe\xff", ("utf-32",)),
            (b"\xff\xfe", ("utf-16",)), (b"\xfe\xff", ("utf-16",)))
    encodings = next((tried for bom, tried in boms if raw.startswith(bom)), None)
    if encodings is None:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ArticlesError(f"{name}: not UTF-8 text. Convert it, e.g. with: "
                                f"iconv -f latin1 -t utf-8 {name}") from None
    else:
        for encoding in encodings:
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ArticlesError(f"{name}: not valid {encodings[-1].upper()} text (it is cut off or damaged).")
    return printable(text.replace("\r\n", "\n").replace("\r", "\n"))


def read_article(path: Path, root: Path) -> Document:
    """Read one article with its metadata (front matter beats sidecar beats derived values; for a web page
    or PDF, the sidecar beats what the page itself says)."""
    raw = path.read_bytes()
    if path.suffix.lower() not in TEXT_SUFFIXES:
        return _read_page(path, root, raw)
    text = decode_article(raw, path)
    side_meta, side_raw = _sidecar(path)
    try:
        front_meta, body = _split_front_matter(text)
    except ArticlesError as exc:
        raise ArticlesError(f"{readable_name(str(path))}: {exc}") from None
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
    meta = {k: (one_line(str(v)) or None if v is not None else None)
            for k, v in (meta or {}).items() if k in META_KEYS}
    body = printable(body)
    doc_id, path = readable_name(doc_id), readable_name(path)
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
    numbers ("10.000", "Gen. Ryder") in each supported language.

    pysbd is quadratic in its input, so a long paragraph goes through in windows of SPLIT_WINDOW
    characters: the sentences a window closes are kept, and the next window starts at its last, maybe
    unfinished, sentence. A window without any sentence end is taken as one sentence (cut to size later)."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while len(text) - pos > SPLIT_WINDOW:
        end = text.rfind(" ", pos + SPLIT_WINDOW // 2, pos + SPLIT_WINDOW)
        end = end if end > pos else pos + SPLIT_WINDOW
        window = _segment(text[pos:end], lang)
        if len(window) >= 2:
            spans += [(pos + s, pos + e) for s, e in window[:-1]]
            pos += window[-1][0]
        else:
            spans += [(pos + s, pos + e) for s, e in window]
            pos = end
    return spans + [(pos + s, pos + e) for s, e in _segment(text[pos:], lang)]


def _segment(text: str, lang: str) -> list[tuple[int, int]]:
    """pysbd over all of `text` at once (use `split_sentences`)."""
    import pysbd

    lang = SPLITTER_FOR.get(lang, lang)
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


def _bounded(text: str, spans: list[tuple[int, int]], max_chars: int) -> list[tuple[int, int]]:
    """Sentences longer than `max_chars` (a list, a table, text without full stops) cut at the last space
    that keeps each piece within `max_chars`, or hard where there is none, so no passage is unbounded."""
    out = []
    for start, end in spans:
        while end - start > max_chars:
            cut = text.rfind(" ", start + 1, start + max_chars + 1)
            cut = cut if cut > start else start + max_chars
            out.append((start, len(text[start:cut].rstrip()) + start))
            start = cut
            while start < end and text[start].isspace():
                start += 1
        if end > start:
            out.append((start, end))
    return out


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
        sentences = _bounded(block, split_sentences(block, doc.lang), max_chars)
        if not sentences:
            continue
        for chunk in _pack(sentences, max_chars):
            start, end = chunk[0][0], chunk[-1][1]
            text = block[start:end].replace("\n", " ")
            passages.append(Passage(
                doc_id=doc.doc_id, paragraph=number, start=block_start + start, end=block_start + end,
                text=text, lang=doc.lang, sentences=[(s - start, e - start) for s, e in chunk]))
    return passages


def has_text(doc: Document) -> bool:
    """Whether `doc` has anything to quote: a paragraph that is not only a Markdown heading."""
    return any(not (re.match(r"#{1,6}\s", block) and "\n" not in block) for block, _ in _paragraph_blocks(doc.body))


def split_documents(docs: Sequence[Document], max_chars: int = 500, progress: bool = False) -> list[Passage]:
    """Passages of every document in order; with `progress`, a progress bar for many documents (sentence
    splitting takes a few hundred milliseconds for a long article)."""
    todo: Iterable[Document] = docs
    if progress and len(docs) >= 50:
        from tqdm import tqdm

        todo = tqdm(docs, desc=f"Splitting {len(docs)} article(s)", unit="article", leave=False)
    return [p for doc in todo for p in split_document(doc, max_chars)]


def load_articles(paths: Iterable[Path], articles_root: Path | None = None,
                  progress: bool = False) -> list[Document]:
    """Every article under `paths`, read and checked; duplicate ids are an error. Files inside
    `articles_root` (the articles folder) get the same id as when the whole folder is indexed."""
    paths = list(paths)
    files = find_articles(paths, articles_root)
    if not files:
        shown = ", ".join(str(p) for p in paths)
        raise ArticlesError(f"No articles ({KINDS}) found in {shown}.")
    docs: list[Document] = []
    seen: dict[str, Path] = {}
    pages = sum(1 for p, _ in files if p.suffix.lower() not in TEXT_SUFFIXES)
    todo: Iterable[tuple[Path, Path]] = files
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
