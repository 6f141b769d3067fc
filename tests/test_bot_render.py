"""Pure parts of the bot: HTML rendering and splitting, texts, the button store, fair use, log redaction."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from fake_bot_api import html_problem, visible_text

from qa_bot.bot.html import MAX_MESSAGE, render_result, render_results, render_sources, source_line, tg_len
from qa_bot.bot.i18n import LANGS, TEXTS, lang_of, reply_lang, t
from qa_bot.bot.logs import REDACTED, install_redaction, redact
from qa_bot.bot.ratelimit import RateLimiter
from qa_bot.bot.state import BotState, more_data, parse_more_data
from qa_bot.types import DocumentInfo, SearchResult, Source


def result(text: str, start: int = 0, end: int | None = None, rank: int = 1, title: str = "Titel",
           url: str | None = None) -> SearchResult:
    end = len(text) if end is None else end
    return SearchResult(rank=rank, score=0.5, text=text, highlight=text[start:end], highlight_start=start,
                        highlight_end=end, source=Source("doc", title, 3, "doc.txt", url=url), passage_id=rank)


def test_passage_is_escaped_quoted_and_highlighted() -> None:
    text = "A <script> & B. Der Satz mit *Markdown* und _so_ ist wichtig. Ende."
    start = text.index("Der")
    end = text.index(" Ende")
    r = result(text, start, end, title="X & <Y>", url="https://e.org/?a=1&b=2")
    html = render_result(r, "de", lead=True)
    assert html.startswith("<blockquote>A &lt;script&gt; &amp; B. <b>Der Satz mit *Markdown* und _so_ ist wichtig.</b>")
    assert html.endswith('</blockquote>\n— <a href="https://e.org/?a=1&amp;b=2">X &amp; &lt;Y&gt;</a>, Absatz 3')
    assert html_problem(html) is None
    assert visible_text(html).startswith("A <script> & B.")
    collapsed = render_result(r, "de")  # a further passage: collapsed, its source inside the quote
    assert collapsed.startswith("<blockquote expandable>A &lt;script&gt;")
    assert collapsed.endswith("Absatz 3</blockquote>")
    assert html_problem(collapsed) is None


def test_the_lead_is_the_answering_sentence_in_context() -> None:
    sentences = [f"Satz {i} " + "füllt die Zeile mit Worten. " * 4 for i in range(8)]
    text = "".join(sentences).strip()
    spans, at = [], 0
    for s in sentences:
        spans.append((at, at + len(s.strip())))
        at += len(s)
    hs, he = spans[5]
    r = SearchResult(rank=1, score=0.5, text=text, highlight=text[hs:he], highlight_start=hs, highlight_end=he,
                     source=Source("doc", "T", 1, "doc.txt"), sentences=tuple(spans))
    lo, hi = r.lead(400)
    assert lo <= hs and he <= hi and hi - lo <= 400 and (lo, hi) != (0, len(text))
    html = render_results([r, result("Zweite Stelle.", rank=2)], "de")[0]
    assert html.startswith("<blockquote>… Satz 4") and "<b>Satz 5 " in html and "Satz 0" not in html
    assert "<blockquote expandable><b>Zweite Stelle.</b>" in html and html_problem(html) is None
    short = SearchResult(rank=1, score=0.5, text="Kurz. Knapp.", highlight="Knapp.", highlight_start=6,
                         highlight_end=12, source=Source("doc", "T", 1, "doc.txt"), sentences=((0, 5), (6, 12)))
    assert short.lead() == (0, 12)  # short passages are shown whole


def test_source_line_links_only_web_urls_and_speaks_the_language() -> None:
    assert "<a " not in source_line(result("x", url="javascript:alert(1)"), "en")
    assert source_line(result("x"), "en") == "— Titel, paragraph 3"
    assert source_line(result("x", url='https://e.org/"onclick'), "de").startswith('— <a href="https://e.org/&quot;')


def test_long_answers_split_between_passages_never_inside_a_tag() -> None:
    passages = [result(("Wort <&> " * 300)[: 1500 + i], 10, 40, rank=i) for i in range(1, 9)]
    messages = render_results(passages, "en")
    assert len(messages) > 1
    for message in messages:
        assert tg_len(message) <= MAX_MESSAGE and html_problem(message) is None
        assert message.count("<blockquote") == message.count("</blockquote>") >= 1
    assert sum(m.count("<blockquote") for m in messages) == len(passages)


def test_a_single_huge_passage_is_shortened_not_broken() -> None:
    text = "Ä😀<" * 5000  # emoji count twice towards Telegram's limit
    html = render_result(result(text, 3, 9000), "de")
    assert tg_len(html) <= MAX_MESSAGE and html_problem(html) is None
    assert "</b>" in html and html.count("<b>") == 1 and "…" in html


def test_sources_listing_is_valid_html() -> None:
    docs = [DocumentInfo(f"d{i}", f"Titel <{i}> & Co", f"d{i}.txt", "https://e.org/?x=1&y=2" if i % 2 else None,
                         "Reuters", "2024-10-30", 5) for i in range(300)]
    pages = render_sources(docs, 1500, "en")
    assert len(pages) > 1 and all(html_problem(p) is None for p in pages)
    assert pages[0].startswith("<b>300 article(s), 1500 passages</b>")


def test_every_text_exists_in_six_languages_and_is_valid_html() -> None:
    values = {"example": "x", "username": "bot", "documents": 2, "passages": 17, "limit": 10, "n": 4,
              "built_at": "2024", "text": "", "articles": 1, "titles": "• T", "seconds": 5, "count": 2,
              "error": "x", "size": "3.0", "page": 1, "pages": 2}
    for key, table in TEXTS.items():
        assert set(table) == set(LANGS) == {"en", "de", "ru", "uk", "es", "fr"}, key
        for lang in LANGS:
            placeholders = set(re.findall(r"{(\w+)}", table[lang]))
            assert placeholders == set(re.findall(r"{(\w+)}", table["en"])), (key, lang)
            rendered = t(key, lang, **{k: v for k, v in values.items() if k in placeholders})
            assert html_problem(rendered) is None, (key, lang)
    assert lang_of("de-AT") == "de" and lang_of("en-GB") == "en" and lang_of("fr") == "fr" and lang_of(None) == "en"
    assert lang_of("it") == "en"


@pytest.mark.parametrize("code, question, expected", [
    ("en", "Хто такий Андрій Єрмак?", "uk"), ("de", "Кто такой Джейк Салливан?", "ru"),
    ("ru", "¿Qué ciudad fue atacada por drones rusos?", "es"), ("en", "Qui a confirmé le déploiement ?", "fr"),
    ("uk", "Wer ist Jake Sullivan?", "de"), ("fr", "Kursk?", "fr"), (None, "Kursk?", "en"),
    ("de", "Chi è Jake Sullivan?", "de"),  # Italian: no bot texts, so the app's language
])
def test_replies_follow_the_question_language_then_the_app(code, question, expected) -> None:
    assert reply_lang(code, question) == expected


def test_more_buttons_carry_short_keys_that_survive_a_restart(tmp_path: Path) -> None:
    question = "Wie heißt der nationale Sicherheitsberater der USA? " * 20
    state = BotState(tmp_path / "state.db")
    key = state.put_question(question, "de")
    data = more_data(key, 3)
    assert len(data.encode()) <= 64
    state.close()
    reopened = BotState(tmp_path / "state.db")
    assert parse_more_data(data) == (key, 3)
    assert reopened.get_question(key) == (question, "de")
    assert reopened.get_question("unknownkey12") is None
    assert reopened.first_refusal(5) and not reopened.first_refusal(5)


@pytest.mark.parametrize("data", [None, "", "m:abc", "m:abc:-3", "m:abc:0", "m:abc:99999", "x:abc:3", "m::3",
                                  "m:abc:3:4", "m:" + "a" * 70 + ":3", "m:abc:３"])
def test_forged_callback_data_is_rejected(data: str | None) -> None:
    assert parse_more_data(data) is None


def test_rate_limit_per_user_per_minute_with_one_warning() -> None:
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.allow(1) and limiter.allow(1) and not limiter.allow(1)
    assert limiter.allow(2)  # other users are not affected
    assert limiter.should_warn(1) and not limiter.should_warn(1)
    now[0] = 61.0
    assert limiter.allow(1)
    assert limiter.should_warn(1)


def test_token_is_redacted_from_messages_arguments_and_tracebacks(caplog) -> None:
    token = "987654321:AAE-redaction-test-secret"
    install_redaction(token)
    log = logging.getLogger("qa_bot.test")
    with caplog.at_level(logging.INFO):
        log.info("POST https://api.telegram.org/bot%s/getMe", token)
        try:
            raise RuntimeError(f"failed at /bot{token}/sendMessage")
        except RuntimeError:
            log.exception("request failed")
    text = caplog.text
    assert REDACTED in text and token not in text and "redaction-test-secret" not in text
    assert re.search(r"RuntimeError: failed at /bot<redacted>/sendMessage", text)
    assert redact(f"x {token} y") == f"x {REDACTED} y"


def test_fake_server_html_check_catches_what_telegram_rejects() -> None:
    for bad in ("a < b", "<b>x", "<b>x</i>", "<div>x</div>", "AT&T", "x" * 4097, "", "<a>x</a>",
                "<blockquote><blockquote>x</blockquote></blockquote>"):
        assert html_problem(bad) is not None, bad
    assert html_problem('<b>x</b> &amp; <a href="https://e.org">y</a> <blockquote>q</blockquote>') is None


def test_sources_pages_are_single_valid_messages_newest_first() -> None:
    from qa_bot.bot.html import newest_first, render_sources_page

    docs = [DocumentInfo(f"d{i:03d}", f"Titel <{i}> & Co " + "lang " * 30, f"d{i}.txt",
                         "https://e.org/" + "x" * 300 + "?a=1&b=2", "Reuters", f"2024-10-{1 + i % 28:02d}", 5)
            for i in range(300)]
    ordered = newest_first(docs + [DocumentInfo("undated", "Ohne Datum", "u.txt", None, None, None, 1)])
    assert ordered[0].published == "2024-10-28" and ordered[-1].doc_id == "undated"
    texts = []
    for page in (1, 2, 20, 21):
        text, shown, pages = render_sources_page(ordered, 1500, "en", page)
        assert html_problem(text) is None and pages == 21 and shown == min(page, 21)
        texts.append(text)
    assert texts[0].startswith("<b>301 article(s), 1500 passages</b> · page 1/21\n1. ")
    assert texts[3].endswith("301. Ohne Datum — 1 passages") and texts[2] != texts[3]
