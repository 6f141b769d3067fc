"""Admins add news sources from Telegram (a page URL, a feed URL, a document) through the real bot and a
local Bot API server; the new articles are answered from at once; everyone else gets a polite no."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import make_service
from fake_bot_api import bot_against_fake_api, visible_text
from news_fixtures import NewsSite, fixture_text, make_pdf, rss_item
from test_news import PDF_PARAGRAPHS

ADMIN, USER = 7, 8


def test_admin_adds_url_feed_and_documents_others_are_refused(articles: Path, tmp_path: Path) -> None:
    service = make_service(articles, tmp_path / "index", min_score=0.15)

    async def scenario() -> None:
        with NewsSite() as site:
            page = site.add("/world/drones-kyiv", "text/html", fixture_text("drones.html", base=site.base))
            site.add("/politik/kursk", "text/html", fixture_text("kursk.html"))
            feed = site.add("/world.rss", "application/rss+xml", fixture_text(
                "feed.rss", base=site.base, items=rss_item(site.base, "/politik/kursk", "Kursk", "w1")))
            async with bot_against_fake_api(service, tmp_path, admin_ids=frozenset({ADMIN}),
                                            max_source_mb=1) as bot:
                api = bot.api

                async def replies(chat: int, n: int) -> list[str]:
                    sent = await api.wait_until(lambda: len(api.sent_to(chat)) >= n and api.sent_to(chat), 60)
                    return [visible_text(m.text) for m in sent]

                # A page URL from an admin: fetched, indexed, answered from with its real headline.
                api.message(ADMIN, page, language_code="en")
                working, added = await replies(ADMIN, 2)
                assert working.startswith("Fetching and indexing")
                assert added.startswith("Added 1 article(s):\n• Russian drones strike Kyiv overnight\n")
                assert "The index now holds 19 passages" in added
                api.message(ADMIN, "How many civilians were injured when drones attacked Kyiv?", language_code="en")
                answer = (await replies(ADMIN, 3))[2]
                assert "injuring six civilians" in answer and "Russian drones strike Kyiv overnight" in answer

                # A feed URL: subscribed, its item fetched.
                api.message(ADMIN, feed, language_code="en")
                fed = (await replies(ADMIN, 5))[4]
                assert fed.startswith("Subscribed to the feed") and "Pentagon bestätigt nordkoreanische" in fed

                # Documents: a PDF is added; a wrong type and a too large one are refused before downloading.
                api.document(ADMIN, "strom.pdf", make_pdf(PDF_PARAGRAPHS, title="Angriffe auf Umspannwerke"),
                             "application/pdf", language_code="en")
                assert "• Angriffe auf Umspannwerke" in (await replies(ADMIN, 7))[6]
                api.document(ADMIN, "brief.docx", b"PK\x03\x04", language_code="en")
                assert (await replies(ADMIN, 8))[7] == "I can add HTML, PDF, TXT and MD documents, not this one."
                api.document(ADMIN, "huge.txt", b"x", size=3 * 1024 * 1024, language_code="en")
                assert (await replies(ADMIN, 9))[8] == "This document is too large (3.0 MB; the limit is 1 MB)."
                assert len(api.downloads) == 1
                # A broken page: one clear line, nothing added.
                api.message(ADMIN, f"{site.base}/missing", language_code="en")
                failed = (await replies(ADMIN, 11))[10]
                assert failed.startswith("That did not work: Cannot fetch") and "HTTP 404" in failed

                # Anyone else: a polite no for URLs and documents; nothing is fetched or downloaded.
                hits = dict(site.hits)
                api.message(USER, page, language_code="en")
                api.document(USER, "note.txt", b"Ein Text.", language_code="en")
                refusals = await replies(USER, 2)
                assert all(r.startswith("Only the bot's administrators can add") for r in refusals)
                assert dict(site.hits) == hits and len(api.downloads) == 1

    asyncio.run(asyncio.wait_for(scenario(), 180))
    saved = sorted(p.relative_to(articles).as_posix() for p in articles.rglob("*.md"))
    assert [p.split("/")[0] for p in saved] == ["uploads", "web", "web"]
