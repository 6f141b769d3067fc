"""Bad input from articles, file names and questions: one clear line or a sensible result, never a
traceback, and nothing else lost (issue 11's reproductions, each first seen failing)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, SEEDS

from qa_bot import ingest
from qa_bot.cli import cli
from qa_bot.errors import ArticlesError
from qa_bot.ingest import load_articles, make_document, split_document, split_sentences


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_BOT_BACKEND", "hash")
    monkeypatch.setenv("QA_BOT_INDEX_DIR", str(tmp_path / "index"))

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def qa_bot(*args: str | bytes, stdin: bytes = b"", tmp_path: Path) -> subprocess.CompletedProcess:
    """The real command in a fresh process (argv and stdin as raw bytes, as a shell passes them)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_BOT_", "TELEGRAM_"))}
    env.pop("PYTHONUTF8", None)
    # a UTF-8 terminal: stdin and stdout strict (this machine only has C locales, which Python makes lenient)
    env.update({"LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8:strict", "PYTHONPATH": str(ROOT),
                "QA_BOT_BACKEND": "hash", "QA_BOT_INDEX_DIR": str(tmp_path / "index"),
                "QA_BOT_ARTICLES_DIR": str(SEEDS)})
    return subprocess.run([sys.executable, "-m", "qa_bot.cli", *args], input=stdin, capture_output=True, env=env,
                          cwd=tmp_path, timeout=120)


def test_truncated_utf16_article_is_one_line(run, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_bytes(b"\xff\xfeA\x00B")
    result = run("index", str(tmp_path / "d"))
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == f"Error: {tmp_path}/d/a.txt: not valid UTF-16 text (it is cut off or damaged).\n"


def test_impossible_date_in_front_matter_is_kept_as_written(tmp_path):
    (tmp_path / "a.md").write_text("---\ntitle: T\npublished: 2024-02-30\n---\nEin Satz.\n", "utf-8")
    (tmp_path / "b.md").write_text("---\npublished: 2024-10-29T08:15:00+01:00\n---\nNoch ein Satz.\n", "utf-8")
    a, b = load_articles([tmp_path])
    assert a.published == "2024-02-30" and b.published == "2024-10-29T08:15:00+01:00"


def test_file_name_that_is_not_utf8_is_indexed_with_a_readable_id(run, tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "ok.txt").write_text("Ein anderer Artikel über Kiew.", "utf-8")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.txt"), "wb") as fh:
        fh.write("Das Café in Kiew hat wieder geöffnet.".encode())
    result = run("index", str(folder))
    assert result.exit_code == 0, result.stderr
    assert "added  caf\\xe9" in result.stdout and "added  ok" in result.stdout
    answer = run("ask", "Café Kiew geöffnet", "--json")
    assert answer.exit_code == 0 and '"doc_id": "caf\\\\xe9"' in answer.stdout


def test_control_characters_never_reach_passages_or_titles(tmp_path):
    (tmp_path / "a.txt").write_text("Erster\x00 Satz mit\x07 Klingel.\x1b[31m Rot. Zweiter Satz.\x0b", "utf-8")
    (tmp_path / "a.meta.json").write_text('{"title": "Titel\\u0000 mit\\u001b[2J Steuerzeichen"}', "utf-8")
    [doc] = load_articles([tmp_path])
    passages = split_document(doc)
    controls = [c for p in passages for c in p.text if ord(c) < 32 or 0x7f <= ord(c) < 0xa0]
    assert controls == [] and "Erster Satz mit Klingel." in passages[0].text
    assert doc.title == "Titel mit [2J Steuerzeichen"


def test_empty_article_is_reported_when_indexed(run, tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "full.txt").write_text("Ein Satz über Kiew.", "utf-8")
    (folder / "empty.txt").write_text("\n \n", "utf-8")
    result = run("index", str(folder))
    assert result.exit_code == 0
    assert f"Warning: {folder}/empty.txt has no text to quote; it is indexed with 0 passages.\n" in result.stderr


def test_sentence_splitting_work_is_bounded_per_call(monkeypatch):
    """One huge single-line paragraph: the splitter only ever sees windows of bounded size (it is quadratic
    in its input: 8k sentences in one call took 53 s)."""
    import pysbd

    seen: list[int] = []
    original = pysbd.Segmenter.segment

    def recording(self, text):
        seen.append(len(text))
        return original(self, text)

    monkeypatch.setattr(pysbd.Segmenter, "segment", recording)
    text = " ".join(f"Satz {i} nennt 10.000 Soldaten und Gen. Ryder sagte etwas." for i in range(800))
    spans = split_sentences(text, "de")
    assert len(spans) == 800 and max(seen) <= ingest.SPLIT_WINDOW * 2
    assert [text[s:e] for s, e in spans][:2] == ["Satz 0 nennt 10.000 Soldaten und Gen. Ryder sagte etwas.",
                                                "Satz 1 nennt 10.000 Soldaten und Gen. Ryder sagte etwas."]


def test_windowed_splitting_agrees_with_splitting_the_whole():
    sentences = [f"Am {i}. Oktober sagte Gen. Ryder, 10.000 Soldaten seien z.B. in Kursk." if i % 3 else
                 f"Warum {i}? Niemand weiß es!" for i in range(150)]
    text = " ".join(sentences)
    assert [text[s:e] for s, e in split_sentences(text, "de")] == [
        text[s:e] for s, e in ingest._segment(text, "de")]


def test_text_without_sentence_ends_is_cut_into_bounded_passages():
    body = " ".join(f"wort{i}" for i in range(2000))  # ~14 000 characters, no full stop anywhere
    passages = split_document(make_document("x", body, meta={"lang": "de"}), max_chars=500)
    assert len(passages) > 20 and max(len(p.text) for p in passages) <= 500
    assert " ".join(p.text for p in passages) == body
    nospace = "x" * 3000
    passages = split_document(make_document("y", nospace, meta={"lang": "de"}), max_chars=500)
    assert max(len(p.text) for p in passages) <= 500 and "".join(p.text for p in passages) == nospace


def test_question_with_a_byte_that_is_not_utf8(tmp_path):
    for extra in ((), ("--json",)):
        result = qa_bot("ask", b"\xff Jake Sullivan", *extra, tmp_path=tmp_path)
        assert result.returncode == 0, result.stderr.decode()
        assert b"Traceback" not in result.stderr and b"Sullivan" in result.stdout


def test_repl_survives_a_bad_byte_in_piped_input(tmp_path):
    stdin = "Wer ist Jake Sullivan?\n\xff Sullivan\x00\x07?\nWie backe ich einen Apfelkuchen?\n".encode("latin-1")
    stdin = stdin.replace("Wer ist Jake Sullivan?".encode("latin-1"), b"Wer ist Jake Sullivan?")
    result = qa_bot("repl", stdin=stdin, tmp_path=tmp_path)
    out = result.stdout.decode()
    assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr.decode()
    assert out.count("Sullivan") >= 2 and "Nothing in the articles" in out  # all three lines answered


@pytest.mark.parametrize("question", ["\udcff Jake Sullivan", "Jake\x00 Sullivan\x07", "\x1b[2J Jake Sullivan"])
def test_questions_lose_surrogates_and_control_characters(question):
    from qa_bot.retrieve import clean_question

    cleaned = clean_question(question)
    assert cleaned.endswith("Jake Sullivan") and cleaned.isprintable()
    cleaned.encode("utf-8")


def test_bad_article_bytes_are_one_line_not_a_crash():
    with pytest.raises(ArticlesError):
        ingest.decode_article(b"\xfe\xff\xd8", Path("x.txt"))


def test_an_unexpected_failure_is_one_line_and_a_traceback_only_when_verbose(run, monkeypatch, articles):
    monkeypatch.setenv("QA_BOT_ARTICLES_DIR", str(articles))
    assert run("index").exit_code == 0

    def broken(self):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr("qa_bot.service.QAService.sources", broken)
    result = run("sources")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == ("Error: unexpected RuntimeError: something nobody foresaw. This is a bug in qa-bot; "
                             "run again with QA_BOT_VERBOSE=1 for the details to report.\n")
    monkeypatch.setenv("QA_BOT_VERBOSE", "1")
    with pytest.raises(RuntimeError):
        run("sources")
    assert run("ask", "   ").exit_code == 1 and run("ask").exit_code == 2  # domain and usage errors as before
