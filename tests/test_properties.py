"""Property-based tests (hypothesis): whatever bytes, names, encodings, front matter, questions or
quoted text come in, the result is a document, an answer or valid Telegram HTML, or one domain error,
never a crash. These are the classes of bug issue 11 found by hand; the strategies go where it found them."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from fake_bot_api import html_problem
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from qa_bot.bot.html import MAX_MESSAGE, escape, render_result, render_results, render_sources, tg_len
from qa_bot.errors import ArticlesError, QABotError, QuestionError
from qa_bot.ingest import decode_article, load_articles, make_document, split_document
from qa_bot.render import render_answer_text, render_result_text
from qa_bot.retrieve import MAX_QUESTION_CHARS, clean_question
from qa_bot.types import DocumentInfo, SearchResult, Source

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text with what breaks naive code: controls, lone surrogates, line separators, emoji (two UTF-16 units),
# combining marks, right-to-left text, HTML specials.
ANY_CHAR = st.characters(exclude_categories=())
NASTY = st.sampled_from(["\x00", "\x07", "\x1b[31m", "\udcff", "\ud800", "\u2028", "\u202e", "\ufeff", "🙂",
                         "👩‍👩‍👧", "e\u0301", "<b>", "&amp;", "&", "<", ">", '"', "\r\n", "\t", " ", ".", "Gen. ",
                         "10.000", "Ä", "Кремль", "حرب"])
TEXT = st.lists(st.one_of(st.text(ANY_CHAR, max_size=30), NASTY), max_size=40).map("".join)
WORDY = st.lists(st.one_of(st.sampled_from(["Kiew", "Sullivan", "Truppen", "Pentagon", "Satz.", "\n\n", "\n"]),
                           NASTY, st.text(ANY_CHAR, max_size=12)), max_size=60).map(" ".join)


def controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) < 0xA0 or 0xD800 <= ord(c) < 0xE000]


# ---------------------------------------------------------------------------------- ingest

@SETTINGS
@given(st.binary(max_size=400))
@example(b"\xff\xfeA\x00B")
@example(b"\xfe\xff\xd8")
@example(b"\xff\xfe\x00\x00A")
def test_any_bytes_decode_to_printable_text_or_one_articles_error(raw: bytes) -> None:
    try:
        text = decode_article(raw, Path("a.txt"))
    except ArticlesError as exc:
        assert "a.txt" in str(exc) and "\n" not in str(exc)
        return
    assert controls(text) == [] and "\r" not in text


@SETTINGS
@given(WORDY, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]))
@example("\ufeff", "utf-8-sig")  # found by hypothesis: a text starting with U+FEFF read back different
@example("\x00 Kiew", "utf-16")  # found by hypothesis: FF FE 00 00 is also the UTF-32 byte-order mark
def test_any_text_in_any_supported_encoding_reads_back(text: str, encoding: str) -> None:
    assume(not any(0xD800 <= ord(c) < 0xE000 for c in text))  # not encodable: not a file anyone has
    decoded = decode_article(text.encode(encoding), Path("a.txt"))
    assert decoded == decode_article(text.encode("utf-8"), Path("a.txt"))


@SETTINGS
@given(st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\x00" not in b),
       st.binary(max_size=300), TEXT)
@example(b"caf\xe9", "Das Café hat geöffnet.".encode(), "published: 2024-02-30")
def test_any_file_name_content_and_front_matter_give_documents_or_one_error(name: bytes, body: bytes,
                                                                           front: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.fsencode(tmp)
        with open(os.path.join(folder, name + b".md"), "wb") as fh:
            fh.write(b"---\n" + front.encode("utf-8", "surrogatepass") + b"\n---\n" + body)
        try:
            docs = load_articles([Path(tmp)])
        except ArticlesError as exc:
            message = str(exc)
            assert "\n" not in message and controls(message) == []
            message.encode("utf-8")  # printable on any terminal, no lone surrogates
            return
        for doc in docs:
            for value in (doc.doc_id, doc.path, doc.title, doc.url, doc.outlet, doc.published):
                if value is not None:
                    value.encode("utf-8")
                    assert controls(value) == []
            json.dumps(doc.__dict__, ensure_ascii=False).encode("utf-8")


@SETTINGS
@given(WORDY, st.integers(50, 600))
@example("wort " * 400, 50)
@example("x" * 2000, 60)
def test_passages_are_bounded_exact_spans_of_the_body(body: str, max_chars: int) -> None:
    doc = make_document("d", body, meta={"lang": "de"})
    for p in split_document(doc, max_chars):
        assert 0 < len(p.text) <= max_chars
        assert doc.body[p.start:p.end].replace("\n", " ") == p.text
        assert controls(p.text) == []
        assert p.sentences and p.sentences[0][0] == 0 and p.sentences[-1][1] == len(p.text)


# ---------------------------------------------------------------------------------- questions

@SETTINGS
@given(st.text(ANY_CHAR, max_size=1500) | TEXT)
@example("\udcff Jake Sullivan")
@example("\x00\x07")
def test_any_question_is_clean_or_a_question_error(question: str) -> None:
    try:
        cleaned = clean_question(question)
    except QuestionError:
        return
    assert cleaned and cleaned == cleaned.strip() and len(cleaned) <= MAX_QUESTION_CHARS
    assert controls(cleaned) == [] and "\n" not in cleaned
    cleaned.encode("utf-8")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(question=st.text(ANY_CHAR, max_size=300) | TEXT | WORDY)
@example(question="\udcff Jake Sullivan")
def test_any_question_gets_an_answer_that_prints_anywhere(shared_hash_service, question: str) -> None:
    try:
        answer = shared_hash_service.search(question, 3)
    except QuestionError:
        return
    json.dumps(answer.to_json(), ensure_ascii=False).encode("utf-8")
    for color in (False, True):
        render_answer_text(answer, color=color).encode("utf-8")
    for message in render_results(answer.results, "de"):
        assert html_problem(message) is None


# ---------------------------------------------------------------------------------- the Telegram renderer

URLS = st.one_of(st.none(), TEXT, st.sampled_from(["https://example.org/a?b=1&c=<2>", "javascript:alert(1)",
                                                   'http://x/"onmouseover=', "ftp://x", "https://"]))


@st.composite
def results(draw) -> SearchResult:
    text = draw(TEXT.filter(str.strip) | st.text(ANY_CHAR, min_size=1, max_size=6000))
    start = draw(st.integers(-5, len(text) + 5))
    end = draw(st.integers(-5, len(text) + 5))
    source = Source(doc_id=draw(TEXT) or "d", title=draw(TEXT), paragraph=draw(st.integers(0, 10**6)),
                    path=draw(TEXT), url=draw(URLS), outlet=draw(st.none() | TEXT), published=draw(st.none() | TEXT))
    return SearchResult(rank=draw(st.integers(1, 50)), score=draw(st.floats(-1, 1)), text=text,
                        highlight=text[max(start, 0):max(end, 0)], highlight_start=start, highlight_end=end,
                        source=source, passage_id=1)


@SETTINGS
@given(st.lists(results(), min_size=1, max_size=6), st.sampled_from(["de", "en", "xx"]))
@example([SearchResult(1, 0.0, "0\r", "", 0, 0, Source("d", "", 0, ""))], "de")  # found: a bare CR reached Telegram
def test_any_answer_renders_as_valid_telegram_html_within_the_limit(items: list[SearchResult], lang: str) -> None:
    messages = render_results(items, lang)
    assert messages
    for message in messages:
        assert html_problem(message) is None, message[:300]
        assert tg_len(message) <= MAX_MESSAGE and controls(message) == []


@SETTINGS
@given(results(), TEXT)
def test_any_inline_result_renders_within_the_limit(result: SearchResult, question: str) -> None:
    head = f"❓ <i>{escape(clean_question(question) if question.strip() else 'x')}</i>\n" \
        if any(c.isalnum() for c in question) else "❓ <i>x</i>\n"
    body = head + render_result(result, "de", MAX_MESSAGE - tg_len(head))
    assert html_problem(body) is None and tg_len(body) <= MAX_MESSAGE


@SETTINGS
@given(st.lists(st.builds(DocumentInfo, doc_id=TEXT, title=TEXT, path=TEXT, url=URLS, outlet=st.none() | TEXT,
                          published=st.none() | TEXT, passages=st.integers(0, 10**6)), max_size=80))
def test_any_sources_listing_is_valid_telegram_html(docs: list[DocumentInfo]) -> None:
    for message in render_sources(docs, 123, "en"):
        assert html_problem(message) is None and tg_len(message) <= MAX_MESSAGE and controls(message) == []


@SETTINGS
@given(results())
def test_any_result_prints_on_a_terminal(result: SearchResult) -> None:
    for color in (False, True):
        out = render_result_text(result, color=color)
        out.encode("utf-8")
        assert controls(out.replace("\x1b[", "")) == []  # only our own colour codes
        assert isinstance(QABotError, type)
