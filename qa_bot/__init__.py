"""qa-bot: answer questions over news articles by quoting the most relevant passages with their source.

    >>> import qa_bot
    >>> service = qa_bot.load(backend="use")           # loads the model and the index once
    >>> answer = service.search("Wer ist Jake Sullivan?", k=3)
    >>> answer.results[0].source.title
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .service import QAService


def load(**settings: Any) -> QAService:
    """Open the configured index (building it from the articles folder if there is none)."""
    from .service import QAService

    return QAService.from_settings(**settings)


__all__ = ["__version__", "load"]
