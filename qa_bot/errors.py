"""Domain errors. Front ends turn these into short, plain messages; each says what to do next."""

from __future__ import annotations


class QABotError(Exception):
    """Base class: the message is meant for the user, as is."""


class SettingsError(QABotError):
    """A setting has a value that cannot be used."""


class ModelLoadError(QABotError):
    """The configured embedding model could not be loaded."""


class IndexNotFoundError(QABotError):
    """There is no index yet in the index directory."""


class IndexCorruptError(QABotError):
    """An index file is missing, truncated or unreadable."""


class IndexWriteError(QABotError):
    """The index cannot be written (disk full, read-only folder, I/O error); the previous one is intact."""


class IndexMismatchError(QABotError):
    """The index on disk was built with another model, backend or format."""


class ArticlesError(QABotError):
    """The articles to index cannot be read (wrong path, no articles)."""


class QuestionError(QABotError):
    """The question is empty or cannot be searched."""


class DatabaseError(QABotError):
    """The PostgreSQL database cannot be reached or used (never carries the password)."""
