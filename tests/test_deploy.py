"""The deploy files as an operator uses them: the env example read with systemd's and Docker's own rules
and loaded as settings, the units checked key by key (and by systemd-analyze), the Docker files consistent,
and the README's operator commands pointing at files that exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from qa_bot.cli import cli
from qa_bot.errors import SettingsError
from qa_bot.settings import SETTINGS, load_settings, misspelt_variables

DEPLOY = ROOT / "deploy"
ENV_EXAMPLE = DEPLOY / "qa-bot.env.example"
UNITS = ("qa-bot.service", "qa-bot-index.service", "qa-bot-index.timer")


def systemd_environment_file(text: str) -> dict[str, str]:
    """EnvironmentFile= as systemd.exec(5) describes it: '#'/';' lines are comments, leading and trailing
    whitespace of a value is dropped, interior text (a '# comment' after a value too) is kept, quotes
    around the whole value are removed, a backslash escapes the next character or continues the line."""
    env: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        while line.endswith("\\") and i + 1 < len(lines):  # continuation
            i += 1
            line = line[:-1] + lines[i]
        i += 1
        stripped = line.strip(" \t\r")
        if not stripped or stripped[0] in "#;" or "=" not in stripped:
            continue
        key, _, value = stripped.partition("=")
        key, value = key.strip(" \t"), value.strip(" \t\r")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = re.sub(r"\\(.)", r"\1", value)
        env[key] = value
    return env


def docker_env_file(text: str) -> dict[str, str]:
    """`docker run --env-file` (opts/envfile.go): leading whitespace dropped, '#' lines skipped, the rest
    of the line after the first '=' is the value, byte for byte: no quote removal, no comment stripping."""
    env: dict[str, str] = {}
    for raw in text.removeprefix("\ufeff").splitlines():
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, has_value, value = line.partition("=")
        assert not re.search(r"\s", key), f"Docker refuses a variable name with whitespace: {key!r}"
        if has_value:
            env[key] = value
    return env


def test_env_example_means_the_same_to_systemd_and_docker_and_loads():
    text = ENV_EXAMPLE.read_text("utf-8")
    systemd, docker = systemd_environment_file(text), docker_env_file(text)
    assert systemd == docker and "TELEGRAM_BOT_TOKEN" in systemd
    assert misspelt_variables(systemd) == []
    settings = load_settings(env=systemd)
    assert settings.backend == "e5" and settings.bot.rate_limit == 10 and settings.bot.health_port == 8080
    assert settings.bot.telegram_token == "123456789:replace-with-your-token"
    # Every bot setting is in the example, set or as a commented line (`qa-bot settings` lists the others).
    for s in SETTINGS:
        if s.section != "bot" and s.name not in ("backend", "top_k", "index_dir", "articles_dir", "max_source_mb"):
            continue
        assert re.search(rf"^#? ?{s.env}=", text, re.M), f"{s.env} is not in the env example"


def test_the_rules_catch_a_comment_after_a_value():
    """The failure of the old example, reproduced with both rule sets."""
    old = "QA_BOT_RATE_LIMIT=10                   # questions per user per minute\n"
    for parse in (systemd_environment_file, docker_env_file):
        with pytest.raises(SettingsError, match="QA_BOT_RATE_LIMIT='10 .*# questions.*' is not valid"):
            load_settings(env=parse(old))
    assert docker_env_file('A="x"\n') == {"A": '"x"'} != systemd_environment_file('A="x"\n')


def unit_sections(path: Path) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in path.read_text("utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"{path.name}: {key} outside a section"
        current.setdefault(key, []).append(value)
    return sections


def _minutes(value: str) -> float:
    match = re.fullmatch(r"(\d+)(min|s)?", value)
    assert match, value
    return int(match.group(1)) / (60 if match.group(2) in (None, "s") else 1)


def test_units_put_each_key_where_systemd_reads_it():
    bot, index, timer = (unit_sections(DEPLOY / name) for name in UNITS)
    assert bot["Unit"]["StartLimitIntervalSec"] == ["600"] and bot["Unit"]["StartLimitBurst"] == ["5"]
    assert "StartLimitIntervalSec" not in bot["Service"]
    for service in (bot["Service"], index["Service"]):
        # The first index of 300 articles needs about 11-12 minutes (README): the start timeout leaves room.
        assert _minutes(service["TimeoutStartSec"][0]) >= 20
        assert service["EnvironmentFile"] == ["/etc/qa-bot/qa-bot.env"] and service["StateDirectory"] == ["qa-bot"]
        assert "QA_BOT_INDEX_DIR=/var/lib/qa-bot/index" in service["Environment"][0]
        for key in ("ProtectSystem", "NoNewPrivileges", "CapabilityBoundingSet", "SystemCallFilter",
                    "RestrictAddressFamilies", "PrivateUsers", "UMask"):
            assert key in service, key
    assert bot["Service"]["ExecStartPre"] == ["/opt/qa-bot/venv/bin/qa-bot index"]
    assert bot["Service"]["ExecStart"] == ["/opt/qa-bot/venv/bin/qa-bot serve"]
    assert index["Service"]["ExecStart"] == ["/opt/qa-bot/venv/bin/qa-bot index --feeds"]
    assert {"serve", "index"} <= set(cli.commands)
    assert {p.name for p in cli.commands["index"].params} >= {"refresh_feeds", "watch"}
    assert timer["Timer"]["OnUnitInactiveSec"] == ["15min"] and timer["Install"]["WantedBy"] == ["timers.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_units_and_rates_them_ok(tmp_path):
    root = tmp_path / "root"
    (root / "opt/qa-bot/venv/bin").mkdir(parents=True)
    stub = root / "opt/qa-bot/venv/bin/qa-bot"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for name in UNITS:
        shutil.copy(DEPLOY / name, root / "etc/systemd/system" / name)
    verify = subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                             *(f"/etc/systemd/system/{name}" for name in UNITS)],
                            capture_output=True, text=True, timeout=60)
    assert (verify.returncode, verify.stdout + verify.stderr) == (0, "")
    for name in UNITS[:2]:
        security = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(DEPLOY / name)],
                                  capture_output=True, text=True, timeout=60)
        score = float(re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", security.stdout).group(1))
        assert score <= 2.0, security.stdout[-2000:]


def test_docker_files_agree():
    dockerfile = (DEPLOY / "Dockerfile").read_text("utf-8")
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text("utf-8").splitlines()
               if line.strip() and not line.startswith("#")]
    for copied in re.findall(r"^COPY (?:--chown=\S+ )?(.+) \S+$", dockerfile, re.M):
        for source in copied.split():
            assert (ROOT / source).exists() and source not in ignored, source
    assert ".venv" in ignored and "embeddings" in ignored and ".git" in ignored
    assert 'pip install ".[bot,e5,news,pg]"' in dockerfile and "QA_BOT_HEALTH_LISTEN=0.0.0.0" in dockerfile
    compose = yaml.safe_load((DEPLOY / "docker-compose.single.yml").read_text("utf-8"))
    bot, indexer = compose["services"]["bot"], compose["services"]["indexer"]
    assert bot["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert (DEPLOY / ".." / bot["build"]["dockerfile"]).exists()
    assert bot["env_file"] == indexer["env_file"] == "qa-bot.env"  # next to the compose file: deploy/qa-bot.env
    assert bot["volumes"] == indexer["volumes"] == ["qa-bot-data:/data"] and "qa-bot-data" in compose["volumes"]
    assert indexer["command"][:3] == ["qa-bot", "index", "--watch"]
    assert indexer["depends_on"]["bot"]["condition"] == "service_healthy"
    assert bot["ports"] == ["127.0.0.1:8080:8080"]


def test_readme_operator_commands_use_files_that_exist():
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index("### Run it as a service"):readme.index("### Load benchmark")]
    blocks = re.findall(r"```(?:bash|console)\n(.*?)```", section, re.S)
    assert blocks
    commands = "\n".join(blocks)
    for path in set(re.findall(r"\bdeploy/[\w.-]+", commands)):
        if path != "deploy/qa-bot.env":  # the operator's copy of the example
            assert (ROOT / path).exists(), path
    assert "xargs" not in commands and "grep -v" not in commands
    assert "systemctl start qa-bot-index.service" in commands
    assert "../shared" not in readme
