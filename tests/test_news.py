"""News sources in: saved and fetched web pages, RSS/Atom feeds (items seen before skipped), PDF, all
offline from fixtures served on 127.0.0.1; every quote's source line is the article's real headline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from conftest import ROOT
from news_fixtures import NewsSite, fixture_text, make_pdf, rss_item

from qa_bot.cli import cli
from qa_bot.errors import ArticlesError
from qa_bot.news import FetchError, extract_html, extract_pdf, fetch
from qa_bot.news.collect import Collector

HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml"
PDF_PARAGRAPHS = [
    ["Die Regierung in Kiew meldete am Montag neue Angriffe auf die Energie-",
     "infrastruktur im Osten des Landes. Mehrere Umspannwerke fielen aus, und in",
     "drei Regionen wurde der Strom stundenweise abgeschaltet.",
     "Reparaturen dauern Tage."],
    ["Der Energieminister rief die Bevölkerung auf, abends Strom zu sparen, und",
     "kündigte mobile Generatoren für Krankenhäuser und Schulen in der Region an.",
     "Die Lage bleibt angespannt."],
]


@pytest.fixture
def run(articles, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "101")
    monkeypatch.setenv("QA_BOT_BACKEND", "hash")
    monkeypatch.setenv("QA_BOT_ARTICLES_DIR", str(articles))
    monkeypatch.setenv("QA_BOT_INDEX_DIR", str(tmp_path / "index"))

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


@pytest.fixture
def site():
    with NewsSite() as s:
        yield s


def ask_json(run, question: str) -> dict:
    result = run("ask", question, "--json", "-k", "1")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_main_text_and_metadata_of_a_news_page():
    page = extract_html(fixture_text("kursk.html"))
    assert page.title == "Pentagon bestätigt nordkoreanische Truppen in Kursk"
    assert page.url == "https://news.example.org/2024/10/29/pentagon-kursk"  # the canonical link
    assert (page.outlet, page.published) == ("Beispiel-Zeitung", "2024-10-29")
    paragraphs = page.text.split("\n\n")
    assert len(paragraphs) == 3 and paragraphs[0].startswith("Das Pentagon bestätigte am Dienstag")
    for noise in ("Startseite", "Cookies", "Mehr zum Thema", "Bayern", "Impressum", "Newsletter", "Von Anna"):
        assert noise not in page.text
    with pytest.raises(ArticlesError, match="no article text found"):
        extract_html("<html><body><nav><a href='/'>Home</a></nav></body></html>", name="empty.html")


def test_pdf_text_comes_back_as_paragraphs_with_its_title():
    doc = extract_pdf(make_pdf(PDF_PARAGRAPHS, title="Angriffe auf Umspannwerke"))
    assert doc.title == "Angriffe auf Umspannwerke"
    first, second = doc.text.split("\n\n")
    assert "Energieinfrastruktur im Osten" in first and first.endswith("Reparaturen dauern Tage.")
    assert second.startswith("Der Energieminister") and second.endswith("angespannt.")
    with pytest.raises(ArticlesError, match="x.pdf: not a readable PDF"):
        extract_pdf(b"%PDF-1.4 broken", "x.pdf")


def test_saved_page_and_pdf_are_indexed_and_cited_by_headline(run, articles, tmp_path):
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "kursk.html").write_text(fixture_text("kursk.html"), "utf-8")
    (tmp_path / "saved" / "strom.pdf").write_bytes(make_pdf(PDF_PARAGRAPHS, title="Angriffe auf Umspannwerke"))
    result = run("index", str(tmp_path / "saved" / "kursk.html"), str(tmp_path / "saved" / "strom.pdf"))
    assert result.exit_code == 0, result.output
    assert "   added  kursk" in result.stdout and "   added  strom" in result.stdout
    source = ask_json(run, "Wer könnte laut Washington in den kommenden Wochen noch folgen?")["results"][0]["source"]
    assert source["title"] == "Pentagon bestätigt nordkoreanische Truppen in Kursk"
    assert source["url"] == "https://news.example.org/2024/10/29/pentagon-kursk"
    pdf = ask_json(run, "Welche Umspannwerke fielen aus und wo wurde der Strom abgeschaltet?")["results"][0]
    assert pdf["source"]["title"] == "Angriffe auf Umspannwerke" and "Umspannwerke" in pdf["text"]
    text = run("ask", "Wer könnte laut Washington in den kommenden Wochen noch folgen?", "-k", "1").stdout
    assert "Pentagon bestätigt nordkoreanische Truppen in Kursk (Beispiel-Zeitung, 2024-10-29) — paragraph 2 — " \
        "https://news.example.org/" in \
        " ".join(text.split())


def test_url_is_fetched_into_the_articles_folder_and_indexed(run, articles, site):
    url = site.add("/world/drones-kyiv", HTML, fixture_text("drones.html", base=site.base))
    result = run("index", url)
    assert result.exit_code == 0, result.output
    saved = list((articles / "web").rglob("*.md"))
    assert len(saved) == 1 and saved[0].parent.name == "127-0-0-1"
    assert f"Fetched 1 article(s) into {articles}/." in result.stdout
    text = saved[0].read_text("utf-8")
    assert text.startswith("---\ntitle: Russian drones strike Kyiv overnight\n") and "outlet: Example Wire" in text
    answer = ask_json(run, "How many civilians were injured when drones attacked Kyiv?")
    assert answer["results"][0]["source"]["url"] == f"{site.base}/world/drones-kyiv"
    assert answer["results"][0]["source"]["title"] == "Russian drones strike Kyiv overnight"
    # The whole folder indexed later keeps the fetched article under the same id (nothing re-embedded).
    full = run("index").stdout
    assert "added  000_a9b13bc05b2b618c" in full and "web/" not in full
    assert run("index").stdout.startswith("Index is up to date: 3 article(s)")
    assert run("index", url).stdout.splitlines()[-1].startswith("Index is up to date")  # fetched again: unchanged


def test_feed_items_are_fetched_once_and_new_ones_later(run, articles, site):
    items = [rss_item(site.base, "/world/drones-kyiv", "Drones strike Kyiv", "wire-1"),
             rss_item(site.base, "/politik/kursk", "Truppen in Kursk", "wire-2")]
    site.add("/world/drones-kyiv", HTML, fixture_text("drones.html", base=site.base))
    site.add("/politik/kursk", HTML, fixture_text("kursk.html"))
    feed = site.add("/world.rss", RSS, fixture_text("feed.rss", base=site.base, items="\n".join(items)))
    first = run("index", feed)
    assert first.exit_code == 0, first.output
    assert f"Subscribed to the feed {feed}" in first.stdout and "Fetched 2 article(s)" in first.stdout
    again = run("index", "--feeds")
    assert "Fetched 0 article(s)" in again.stdout and "(2 feed item(s) seen before skipped)" in again.stdout
    assert site.hits["/world/drones-kyiv"] == 1 and site.hits["/world.rss"] == 2
    # A new item appears: only it is fetched.
    site.add("/world/late", HTML, fixture_text("drones.html", base=site.base).replace(
        "drones-kyiv", "late").replace("Russian drones strike Kyiv overnight", "Late edition: drones over Kyiv"))
    items.insert(0, rss_item(site.base, "/world/late", "Late edition", "wire-3"))
    site.add("/world.rss", RSS, fixture_text("feed.rss", base=site.base, items="\n".join(items)))
    third = run("index", "--feeds", "--json")
    data = json.loads(third.stdout)
    assert (len(data["fetched"]), data["items_seen"], len(data["added"])) == (1, 2, 1)
    assert site.hits["/world/late"] == 1 and site.hits["/politik/kursk"] == 1


def test_atom_feed_file_and_a_broken_item(run, articles, site, tmp_path):
    atom = tmp_path / "politik.atom"
    atom.write_text(fixture_text("feed.atom", base=site.base), "utf-8")  # its item's page is missing (404)
    result = run("index", str(atom))
    assert result.exit_code == 0
    assert f"Warning: item {site.base}/politik/kursk: Cannot fetch {site.base}/politik/kursk: the server answered " \
           "HTTP 404." in result.stderr
    site.add("/politik/kursk", HTML, fixture_text("kursk.html"))
    retry = run("index", "--feeds")  # not marked as seen: the next round fetches it
    assert "Fetched 1 article(s)" in retry.stdout and "   added  web/news-example-org/" in retry.stdout


@pytest.mark.parametrize("path, ctype, body, message", [
    ("/big", HTML, b"<html>" + b"x" * (2 * 1024 * 1024), "is too large"),
    ("/image", "image/png", b"\x89PNG\r\n\x1a\n", "is image/png; qa-bot reads HTML pages"),
    ("/missing", None, b"", "the server answered HTTP 404"),
])
def test_bad_urls_are_one_clear_line(run, site, monkeypatch, path, ctype, body, message):
    monkeypatch.setenv("QA_BOT_MAX_SOURCE_MB", "1")
    url = site.add(path, ctype, body) if ctype else site.base + path
    result = run("index", url)
    assert (result.exit_code, result.stdout) == (1, "")
    [error] = [line for line in result.stderr.splitlines() if not line.endswith(" …")]  # progress lines aside
    assert error.startswith("Error: ") and message in error


def test_fetch_refuses_what_is_not_http(site):
    with pytest.raises(FetchError, match="is not an http"):
        fetch("file:///etc/passwd")
    with pytest.raises(FetchError, match="Cannot fetch"):
        fetch("http://127.0.0.1:1/nothing-listens-here", timeout=2)


def test_uploads_are_checked_and_saved(articles):
    collector = Collector(articles, max_bytes=100_000)
    html = collector.add_upload("Kursk.HTML", fixture_text("kursk.html").encode())
    assert html.paths[0].parent.name == "uploads" and html.paths[0].suffix == ".md"
    assert "url: https://news.example.org/2024/10/29/pentagon-kursk" in html.paths[0].read_text("utf-8")
    again = collector.add_upload("Kursk.HTML", fixture_text("kursk.html").encode())
    assert again.paths == html.paths  # the same document twice is one article
    with pytest.raises(ArticlesError, match=r"photo.jpg: qa-bot reads .html, .htm, .pdf, .txt, .md documents"):
        collector.add_upload("photo.jpg", b"\xff\xd8")
    with pytest.raises(ArticlesError, match="too large"):
        collector.add_upload("huge.txt", b"a" * 100_001)
    with pytest.raises(ArticlesError, match="not UTF-8"):
        collector.add_upload("latin.txt", "Grüße".encode("latin-1"))


def test_many_added_articles_are_summarised(run, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(25):
        (folder / f"a{i:03d}.txt").write_text(f"Artikel {i} berichtet über den Hafen Nummer {i}.\n", "utf-8")
    result = run("index", str(folder))
    lines = result.stdout.splitlines()
    assert lines[:8] == [f"   added  a{i:03d}" for i in range(8)]
    assert lines[8] == "   added  … and 17 more (`--json` lists them all)"
    assert lines[9].startswith("Indexed 25 new passage(s) (25 added article(s))") and len(lines) == 10


def test_watch_keeps_a_feed_current_until_sigterm(articles, site, tmp_path):
    site.add("/world/drones-kyiv", HTML, fixture_text("drones.html", base=site.base))
    items = [rss_item(site.base, "/world/drones-kyiv", "Drones strike Kyiv", "wire-1")]
    feed = site.add("/world.rss", RSS, fixture_text("feed.rss", base=site.base, items="\n".join(items)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_BOT_", "TELEGRAM_"))}
    env.update(QA_BOT_BACKEND="hash", QA_BOT_ARTICLES_DIR=str(articles), QA_BOT_INDEX_DIR=str(tmp_path / "index"),
               PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "qa_bot.cli", "index"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "qa_bot.cli", "index", feed, "--watch", "--interval", "1",
                             "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        assert len(first["fetched"]) == 1 and first["feeds_added"] == [feed]
        site.add("/world/late", HTML, fixture_text("drones.html", base=site.base).replace("drones-kyiv", "late"))
        items.append(rss_item(site.base, "/world/late", "Late", "wire-2"))
        site.add("/world.rss", RSS, fixture_text("feed.rss", base=site.base, items="\n".join(items)))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            round_ = json.loads(proc.stdout.readline())
            if round_["added"]:
                break
        assert round_["items_seen"] == 1 and len(round_["added"]) == 1 and round_["added"][0].startswith("web/")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "Stopped." in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_feeds_from_the_settings_are_subscribed_by_a_feeds_round(run, articles, site, monkeypatch):
    site.add("/world/drones-kyiv", HTML, fixture_text("drones.html", base=site.base))
    items = [rss_item(site.base, "/world/drones-kyiv", "Drones strike Kyiv", "wire-1")]
    feed = site.add("/world.rss", RSS, fixture_text("feed.rss", base=site.base, items="\n".join(items)))
    monkeypatch.setenv("QA_BOT_FEEDS", feed)
    result = run("index", "--feeds")
    assert f"Subscribed to the feed {feed}" in result.stdout and "Fetched 1 article(s)" in result.stdout
    assert "web/127-0-0-1/russian-drones-strike-kyiv-overnight" in result.stdout
    monkeypatch.setenv("QA_BOT_FEEDS", "ftp://example.org/feed")
    bad = run("index", "--feeds")
    assert bad.exit_code == 1 and "QA_BOT_FEEDS='ftp://example.org/feed' is not valid: 'ftp://example.org/feed' " \
        "is not an http(s) URL" in bad.stderr
