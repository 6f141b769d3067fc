from pathlib import Path

import pytest

from qa_bot.errors import ArticlesError
from qa_bot.ingest import load_articles, make_document, split_document, split_sentences


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")
    return path


def test_seed_passages_are_whole_sentences_with_exact_spans(articles):
    docs = load_articles([articles])
    assert [d.doc_id for d in docs] == ["000_a9b13bc05b2b618c", "002_eaf006b3a9e755d3"]
    for doc in docs:
        assert doc.lang == "de"
        passages = split_document(doc, max_chars=500)
        assert passages
        for p in passages:
            assert doc.body[p.start:p.end].replace("\n", " ") == p.text
            assert p.text[-1] in ".!?“\"”", p.text[-20:]  # ends at a sentence boundary
            assert p.text[0].isupper() or p.text[0] in "„\"“", p.text[:20]
            assert p.sentences[0][0] == 0 and p.sentences[-1][1] == len(p.text)


def test_long_paragraph_is_split_between_sentences_and_numbers_stay_whole():
    sentences = [f"Satz Nummer {i} nennt 10.000 Soldaten und Gen. Ryder sagte etwas dazu." for i in range(12)]
    doc = make_document("d", " ".join(sentences), meta={"lang": "de"})
    passages = split_document(doc, max_chars=200)
    assert len(passages) > 3
    assert all(p.paragraph == 1 for p in passages)
    rebuilt = " ".join(p.text for p in passages)
    assert rebuilt == doc.body
    for p in passages:
        assert len(p.text) <= 200
        assert p.text.startswith("Satz Nummer") and p.text.endswith("dazu.")


def test_sentence_splitter_knows_abbreviations_and_thousands():
    text = "Generalmajor Pat Ryder sagte, 10.000 Soldaten seien z.B. in Kursk. Dann ging er."
    spans = split_sentences(text, "de")
    assert [text[s:e] for s, e in spans] == [
        "Generalmajor Pat Ryder sagte, 10.000 Soldaten seien z.B. in Kursk.", "Dann ging er."]


def test_front_matter_and_sidecar_metadata(tmp_path):
    write(tmp_path / "a.md", "---\ntitle: Front Title\nurl: https://example.org/a\noutlet: Example\n"
          "published: 2024-10-30\n---\n# Heading\n\nErster Absatz hier.\n\nZweiter Absatz hier.\n")
    write(tmp_path / "b.txt", "Ein Artikel ohne Kopf. Er hat zwei Sätze.\n")
    write(tmp_path / "b.meta.json", '{"title": "Sidecar Title", "url": "https://example.org/b"}')
    write(tmp_path / "c.txt", "Dies ist der erste Satz des dritten Artikels. Und noch einer.")
    a, b, c = load_articles([tmp_path])
    assert (a.title, a.url, a.outlet, a.published) == ("Front Title", "https://example.org/a", "Example",
                                                       "2024-10-30")
    assert [p.text for p in split_document(a)] == ["Erster Absatz hier.", "Zweiter Absatz hier."]
    assert [p.paragraph for p in split_document(a)] == [2, 3]  # the heading is paragraph 1, never quoted
    assert (b.title, b.url) == ("Sidecar Title", "https://example.org/b")
    assert c.title == "Dies ist der erste Satz des dritten Artikels."
    assert c.url is None and c.path.endswith("c.txt")


def test_changed_sidecar_changes_the_content_hash(tmp_path):
    write(tmp_path / "b.txt", "Text.")
    before = load_articles([tmp_path])[0].content_hash
    write(tmp_path / "b.meta.yaml", "title: Neu\n")
    after = load_articles([tmp_path])[0]
    assert after.title == "Neu" and after.content_hash != before


def test_long_first_sentence_gives_a_shortened_title():
    doc = make_document("x", "Wort " * 60 + "Ende.")
    assert doc.title.endswith("…") and len(doc.title) <= 92


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_article_has_no_passages(text):
    assert split_document(make_document("e", text)) == []


def test_wrong_paths_and_bad_metadata_are_clear_errors(tmp_path):
    with pytest.raises(ArticlesError, match="No such file or folder: .*nowhere"):
        load_articles([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArticlesError, match=r"No articles \(.txt, .md, .html or .pdf\) found"):
        load_articles([tmp_path / "empty"])
    write(tmp_path / "bad" / "x.md", "---\ntitle: [unclosed\n---\nText.")
    with pytest.raises(ArticlesError, match=r"x.md: front matter is not valid YAML \(line 2\)"):
        load_articles([tmp_path / "bad"])
    write(tmp_path / "pdf" / "x.pdf", "%PDF")
    with pytest.raises(ArticlesError, match=r"x.pdf: not a readable PDF"):
        load_articles([tmp_path / "pdf" / "x.pdf"])
    write(tmp_path / "doc" / "x.docx", "PK")
    with pytest.raises(ArticlesError, match=r"x.docx is not an article \(.txt, .md, .html or .pdf\)"):
        load_articles([tmp_path / "doc" / "x.docx"])


def test_language_is_detected_per_article(tmp_path):
    write(tmp_path / "en.txt", "The troops were moved to the region, and the officials said that it was new.")
    write(tmp_path / "ru.txt", "Войска были переброшены в регион, сообщили официальные лица.")
    en, ru = load_articles([tmp_path])
    assert (en.lang, ru.lang) == ("en", "ru")


def test_encodings(tmp_path):
    write(tmp_path / "ok" / "a.txt", "x")
    (tmp_path / "ok" / "u16.txt").write_bytes("Ein Artikel in UTF-16. Mit Umlauten: äöü.".encode("utf-16"))
    docs = load_articles([tmp_path / "ok"])
    assert docs[1].body == "Ein Artikel in UTF-16. Mit Umlauten: äöü."
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "l1.txt").write_bytes("Gr\xfc\xdfe".encode("latin-1"))
    with pytest.raises(ArticlesError, match=r"l1.txt: not UTF-8 text. Convert it, e.g. with: iconv"):
        load_articles([tmp_path / "bad"])
