"""The PostgreSQL engine against a real PostgreSQL 16 + pgvector (pgserver, or QA_BOT_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import psycopg
import pytest
from conftest import ROOT, make_service

from qa_bot.errors import DatabaseError, IndexMismatchError, IndexNotFoundError, QABotError, SettingsError
from qa_bot.service import QAService
from qa_bot.store.pg.schema import LOCK_NAMESPACE, SCHEMA_VERSION

QUESTIONS = ["Wer ist Jake Sullivan?", "Кто такой Салливан?", "What did Joe Biden say about Ukraine?",
             "In welche russische Region wurden die nordkoreanischen Truppen verlegt?",
             "Wie hoch ist der Eiffelturm?"]
QUESTION = "Wie heißt der nationale Sicherheitsberater der USA?"


def pg_service(settings) -> QAService:
    service = QAService(settings)
    service.open(build_if_missing=True)
    return service


def sql(settings, statement: str, params=()) -> list:
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {settings.database_schema}, public")
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def ranked(service: QAService, question: str, mode: str = "fused") -> list:
    """(document, paragraph, score) of the top 5; scores to 1e-3 (the embedded engine keeps sentence and
    paragraph vectors as float16)."""
    answer = service.search(question, 5, mode=mode)
    return [(r.source.doc_id, r.source.paragraph, pytest.approx(r.score, abs=1e-3)) for r in answer.results]


def test_same_answers_as_the_embedded_engine(pg_settings, articles, tmp_path):
    """Same analysis, same BM25 formula, same blended dense score: the same passages with the same scores
    (Cyrillic name matching against the vocabulary table included)."""
    local = make_service(articles, tmp_path / "local")
    pg = pg_service(pg_settings)
    assert pg.info().passages == local.info().passages == 17
    for question in QUESTIONS:
        for mode in ("fused", "dense", "bm25"):
            assert ranked(pg, question, mode) == ranked(local, question, mode), (question, mode)
    best = pg.search("Кто такой Салливан?").results[0]
    assert "Jake Sullivan" in best.text and best.highlight.startswith("Auf der US-Seite")
    assert [d.doc_id for d in pg.sources()] == [d.doc_id for d in local.sources()]


def test_schema_created_by_the_program(pg_settings):
    pg_service(pg_settings)
    assert sql(pg_settings, "SELECT version FROM qa_bot_schema") == [(SCHEMA_VERSION,)]
    [(generation, model, dim, passages)] = sql(pg_settings, "SELECT generation, model, dim, passages FROM qa_index")
    assert (model, dim, passages) == ("hash-384", 384, 17) and generation >= 1
    index = sql(pg_settings, "SELECT indexdef FROM pg_indexes WHERE indexname = 'passages_hnsw' "
                             "AND schemaname = current_schema()")[0][0]
    assert "hnsw" in index and "vector_ip_ops" in index


def test_incremental_add_change_delete(pg_settings, articles):
    service = pg_service(pg_settings)
    generation = service.info().generation
    report = service.index()
    assert not report.modified and service.info().generation == generation  # nothing written
    ids_before = {r[0] for r in sql(pg_settings, "SELECT id FROM passages WHERE doc_id = '002_eaf006b3a9e755d3'")}

    (articles / "new.txt").write_text("Der Eiffelturm ist 330 Meter hoch. Er steht in Paris.", "utf-8")
    seed = articles / "000_a9b13bc05b2b618c.txt"
    seed.write_text(seed.read_text("utf-8") + "\nEin neuer Absatz über Pjöngjang und Moskau.\n", "utf-8")
    report = service.index()
    assert (report.added, report.changed, report.removed) == (["new"], ["000_a9b13bc05b2b618c"], [])
    assert report.passages_embedded == 10 and report.passages_total == 19
    # the unchanged article kept its rows; BM25 statistics follow the corpus exactly
    assert {r[0] for r in sql(pg_settings, "SELECT id FROM passages WHERE doc_id = '002_eaf006b3a9e755d3'")} \
        == ids_before
    assert sql(pg_settings, "SELECT (SELECT total_length FROM qa_index) = "
                            "(SELECT sum(bm25_length) FROM passages)")[0][0]
    assert sql(pg_settings, "SELECT count(*) FROM terms t WHERE df <> (SELECT count(*) FROM postings o "
                            "WHERE o.term_id = t.id)")[0][0] == 0
    assert service.search("Wie hoch ist der Eiffelturm?").results[0].text.startswith("Der Eiffelturm ist 330")

    (articles / "002_eaf006b3a9e755d3.txt").unlink()
    report = service.index()
    assert report.removed == ["002_eaf006b3a9e755d3"] and report.passages_total == 10
    assert not any("Jake Sullivan" in r.text for r in service.search(QUESTION, 5).results)
    assert sql(pg_settings, "SELECT count(*) FROM terms WHERE df <= 0")[0][0] == 0
    assert int(service.info().generation) == int(generation) + 2

    # The result equals a fresh build of the same articles in the embedded engine.
    local = make_service(articles, pg_settings.index_dir)
    for question in QUESTIONS:
        assert ranked(service, question) == ranked(local, question)


def test_readers_see_the_old_or_the_new_corpus(pg_settings, articles):
    """Searches run while an update commits: each sees all of the old corpus or all of the new one."""
    service = pg_service(pg_settings)
    service.open()
    (articles / "new.txt").write_text("Der Eiffelturm ist 330 Meter hoch. Er steht in Paris.", "utf-8")
    (articles / "002_eaf006b3a9e755d3.txt").unlink()
    writer = QAService(pg_settings)
    seen: set[tuple[bool, bool]] = set()
    done = threading.Event()

    def search() -> None:
        while not done.is_set():
            eiffel = service.search("Eiffelturm Paris Meter hoch", 5, mode="bm25").results
            sullivan = service.search("Jake Sullivan Sicherheitsberater", 5, mode="bm25").results
            seen.add((any("Eiffelturm" in r.text for r in eiffel), any("Sullivan" in r.text for r in sullivan)))

    readers = [threading.Thread(target=search) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        writer.index()
        service.search("Eiffelturm", 5)
    finally:
        done.set()
        for t in readers:
            t.join()
    seen.add((any("Eiffelturm" in r.text for r in service.search("Eiffelturm Paris", 5, mode="bm25").results),
              any("Sullivan" in r.text for r in service.search("Jake Sullivan", 5, mode="bm25").results)))
    assert (False, True) in seen and (True, False) in seen  # old corpus, then new
    # Within one search (one statement) a mixture cannot happen; across two it is not asked for.


def test_two_indexers_never_interleave(pg_settings):
    pg_service(pg_settings)
    with psycopg.connect(pg_settings.database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s, hashtext(%s))",
                      (LOCK_NAMESPACE, f"index:{pg_settings.database_schema}"))
        with pytest.raises(QABotError, match="Another `qa-bot index` is updating the PostgreSQL database"):
            QAService(pg_settings).index(rebuild=True)
    assert QAService(pg_settings).index(rebuild=True).passages_total == 17


def test_hot_reload_sees_a_new_generation(pg_settings, articles):
    service = pg_service(pg_settings)
    assert not service.reload_if_changed()
    (articles / "new.txt").write_text("Der Eiffelturm ist 330 Meter hoch.", "utf-8")
    QAService(pg_settings).index()
    assert service.reload_if_changed() and service.info().passages == 18


# ------------------------------------------------------------------------------------------ bad input
def test_missing_index_newer_schema_and_model_mismatch(pg_settings):
    with pytest.raises(IndexNotFoundError, match="There is no index in the PostgreSQL database .* qa-bot index"):
        QAService(pg_settings).open()
    pg_service(pg_settings)
    sql(pg_settings, "UPDATE qa_index SET model = 'other-model', dim = 768")
    with pytest.raises(IndexMismatchError, match="built with hash model 'other-model' \\(768 dimensions\\).*"
                                                 "qa-bot index --rebuild"):
        QAService(pg_settings).open()
    report = QAService(pg_settings).index()  # a different model is rebuilt from the articles
    assert report.added and report.passages_total == 17
    sql(pg_settings, "UPDATE qa_bot_schema SET version = 99")
    for action in (lambda: QAService(pg_settings).open(), lambda: QAService(pg_settings).index()):
        with pytest.raises(IndexMismatchError, match="layout version 99, newer than this qa-bot understands"):
            action()


def test_wrong_and_unreachable_urls_never_show_the_password(pg_settings):
    bad = pg_settings.with_overrides(database_url="mysql://bob:hunter2-secret@db/x")
    with pytest.raises(SettingsError, match="must be a PostgreSQL URL") as exc:
        QAService(bad).open()
    assert "hunter2" not in str(exc.value)
    closed = pg_settings.with_overrides(database_url="postgresql://bob:hunter2-secret@127.0.0.1:1/news")
    with pytest.raises(DatabaseError, match="Cannot connect to PostgreSQL at 127.0.0.1:1/news") as exc:
        QAService(closed).index()
    assert "hunter2" not in str(exc.value) and "\n" not in str(exc.value)


def test_cli_error_is_one_line_without_the_password(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_BOT_", "TELEGRAM_"))}
    env.update(PYTHONPATH=str(ROOT), QA_BOT_BACKEND="hash", QA_BOT_ARTICLES_DIR=str(ROOT / "seeds"),
               QA_BOT_DATABASE_URL="postgresql://reader:hunter2-secret@127.0.0.1:1/news")
    for args in (["index"], ["ask", "Wer ist Jake Sullivan?"], ["sources"], ["settings"]):
        result = subprocess.run([sys.executable, "-m", "qa_bot.cli", *args], env=env, capture_output=True,
                                text=True, timeout=60, cwd=tmp_path)
        assert "hunter2" not in result.stdout + result.stderr, args
        if args != ["settings"]:
            assert result.returncode == 1 and result.stdout == ""
            assert result.stderr.startswith("Error: Cannot connect to PostgreSQL at 127.0.0.1:1/news (")
            assert len(result.stderr.strip().splitlines()) == 1


def test_database_without_pgvector_for_this_user(pg_settings):
    """A managed database where the extension is missing and the user may not create it."""
    import uuid

    from psycopg import sql as q

    db, role = f"novector_{uuid.uuid4().hex[:8]}", f"plain_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_settings.database_url, autocommit=True) as admin:
        admin.execute(q.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw-topsecret'").format(q.Identifier(role)))
        admin.execute(q.SQL("CREATE DATABASE {} OWNER {}").format(q.Identifier(db), q.Identifier(role)))
    try:
        info = psycopg.conninfo.conninfo_to_dict(pg_settings.database_url)
        info.update(dbname=db, user=role, password="pw-topsecret")
        url = psycopg.conninfo.make_conninfo(**info)
        settings = pg_settings.with_overrides(database_url=_as_url(url))
        with pytest.raises(DatabaseError, match="has no pgvector extension and qa-bot cannot add it .*"
                                                "CREATE EXTENSION vector") as exc:
            QAService(settings).index()
        assert "pw-topsecret" not in str(exc.value)
    finally:
        from qa_bot.store.pg.connect import close_pools

        close_pools()
        with psycopg.connect(pg_settings.database_url, autocommit=True) as admin:
            admin.execute(q.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(q.Identifier(db)))
            admin.execute(q.SQL("DROP ROLE IF EXISTS {}").format(q.Identifier(role)))


def _as_url(conninfo: str) -> str:
    """postgresql:// form of a key=value conninfo (the setting takes URLs)."""
    from urllib.parse import quote

    d = psycopg.conninfo.conninfo_to_dict(conninfo)
    host = d.pop("host", "")
    user, password, dbname = d.pop("user", ""), d.pop("password", ""), d.pop("dbname", "")
    port = d.pop("port", None)
    query = "&".join(f"{k}={quote(str(v))}" for k, v in ({"host": host} if host.startswith("/") else {}).items())
    netloc = f"{quote(user)}:{quote(password)}@" + ("" if host.startswith("/") else host) + (f":{port}" if port else "")
    return f"postgresql://{netloc}/{dbname}" + (f"?{query}" if query else "")


def test_settings_mask_the_database_url(pg_settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QA_BOT_", "TELEGRAM_"))}
    env.update(PYTHONPATH=str(ROOT), QA_BOT_DATABASE_URL="postgresql://u:hunter2-secret@db/news")
    out = subprocess.run([sys.executable, "-m", "qa_bot.cli", "settings"], env=env, capture_output=True, text=True,
                         timeout=60).stdout
    assert "QA_BOT_DATABASE_URL" in out and "hunter2" not in out


def test_eval_uses_a_scratch_schema(pg_settings, tmp_path):
    """`qa-bot eval` against PostgreSQL builds its XQuAD index in a temporary schema and drops it."""
    from qa_bot.evaluate import scratch_settings

    with scratch_settings(pg_settings) as (scratch, _):
        assert scratch.database_schema.startswith("qa_bot_eval_")
        from qa_bot.store import update_index

        update_index(scratch, [], QAService(scratch).embedder)
        assert sql(pg_settings, "SELECT count(*) FROM pg_namespace WHERE nspname = %s",
                   (scratch.database_schema,))[0][0] == 1
    assert sql(pg_settings, "SELECT count(*) FROM pg_namespace WHERE nspname = %s",
               (scratch.database_schema,))[0][0] == 0


def test_fixture_honours_the_external_url(pg_server_url):
    if os.environ.get("QA_BOT_TEST_DATABASE_URL"):
        assert pg_server_url == os.environ["QA_BOT_TEST_DATABASE_URL"]
    with psycopg.connect(pg_server_url) as conn:
        assert conn.execute("SHOW server_version_num").fetchone()[0] >= "160000"
        assert conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()



def test_bench_compares_the_engines(pg_settings):
    """`qa-bot bench --engines` builds both engines over the same synthetic passages and measures them."""
    from qa_bot.bench.engines import format_engines, run_engines

    result = run_engines(pg_settings, [1_000], echo=lambda _msg: None)
    [row] = result["engines"]
    pg = row["postgresql"]
    assert pg["passages"] == 1_000 and pg["build_s"] > 0 and pg["add_article_s"] > 0
    assert pg["recall_at_10"] >= 0.9 and pg["search"]["n"] == 200 and pg["candidates"]["p50_ms"] > 0
    assert row["local"]["vectors"]["recall_at_10"] == 1.0
    assert "PostgreSQL (pgvector hnsw)" in format_engines(result)
    assert sql(pg_settings, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE %s", ("qa_bot_bench_%",))[0][0] == 0


def test_compose_file_wires_database_replicas_and_proxy():
    import yaml

    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text("utf-8"))
    services = compose["services"]
    assert services["db"]["image"].startswith("pgvector/pgvector:")
    bot = services["bot"]
    assert bot["deploy"]["replicas"] >= 2 and bot["environment"]["QA_BOT_WEBHOOK_LISTEN"] == "0.0.0.0"
    assert bot["environment"]["QA_BOT_DATABASE_URL"].startswith("postgresql://")
    assert services["indexer"]["environment"]["QA_BOT_DATABASE_URL"] == bot["environment"]["QA_BOT_DATABASE_URL"]
    assert "443:443" in services["proxy"]["ports"]
    assert "reverse_proxy" in compose["configs"]["caddyfile"]["content"]
    assert ".[bot,e5,news,pg]" in (ROOT / "deploy" / "Dockerfile").read_text("utf-8")  # the pg extra is in the image
