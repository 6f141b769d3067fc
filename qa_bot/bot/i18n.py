"""User-facing texts in German and English, chosen from the Telegram language code.

Kept in one table so a missing translation is a KeyError in the tests, not a silent English reply.
"""

from __future__ import annotations

LANGS = ("en", "de")

TEXTS: dict[str, dict[str, str]] = {
    "start": {
        "en": ("Hello! I answer questions about {documents} news article(s) ({passages} passages) by quoting "
               "the passages that fit best, with their source.\n\n"
               "Just send me a question, for example:\n<i>{example}</i>\n\n"
               "/sources lists the articles, /help explains more."),
        "de": ("Hallo! Ich beantworte Fragen zu {documents} Nachrichtenartikel(n) ({passages} Abschnitte), "
               "indem ich die passendsten Stellen mit Quelle zitiere.\n\n"
               "Schick mir einfach eine Frage, zum Beispiel:\n<i>{example}</i>\n\n"
               "/sources zeigt die Artikel, /help erklärt mehr."),
    },
    "help": {
        "en": ("<b>How to ask</b>\nWrite a question in a full sentence, naming people, places or events, "
               "e.g. <i>{example}</i>\n\n"
               "I quote the best passages; the sentence that answers best is <b>bold</b>. "
               "\"More\" shows further passages.\n\n"
               "<b>Groups:</b> mention me (@{username}) or reply to my message.\n"
               "<b>Any chat:</b> type <code>@{username} your question</code> to share a passage.\n\n"
               "/sources – the articles I know\n/help – this text"),
        "de": ("<b>So fragst du</b>\nStell eine Frage als ganzen Satz und nenne Personen, Orte oder "
               "Ereignisse, z. B. <i>{example}</i>\n\n"
               "Ich zitiere die besten Stellen; der Satz, der am besten antwortet, ist <b>fett</b>. "
               "„Mehr“ zeigt weitere Stellen.\n\n"
               "<b>Gruppen:</b> erwähne mich (@{username}) oder antworte auf meine Nachricht.\n"
               "<b>Jeder Chat:</b> tippe <code>@{username} deine Frage</code>, um eine Stelle zu teilen.\n\n"
               "/sources – die Artikel, die ich kenne\n/help – dieser Text"),
    },
    "example": {
        "en": "What did Joe Biden say about Ukraine?",
        "de": "Wie heißt der nationale Sicherheitsberater der USA?",
    },
    "nothing_found": {
        "en": ("I found nothing in the articles that answers this. Try other words, or ask about a person, "
               "place or event the articles cover (/sources lists them)."),
        "de": ("Dazu habe ich in den Artikeln nichts Passendes gefunden. Versuch es mit anderen Worten oder "
               "frag nach einer Person, einem Ort oder Ereignis aus den Artikeln (/sources zeigt sie)."),
    },
    "no_words": {
        "en": "Please ask a question in words, e.g. <i>{example}</i>",
        "de": "Bitte stell eine Frage in Worten, z. B. <i>{example}</i>",
    },
    "text_only": {
        "en": "I can only answer text questions. Send me your question as a message.",
        "de": "Ich kann nur Textfragen beantworten. Schick mir deine Frage als Nachricht.",
    },
    "more_button": {"en": "More ▸", "de": "Mehr ▸"},
    "no_more": {"en": "No further passages.", "de": "Keine weiteren Stellen."},
    "stale_button": {
        "en": "This button has expired. Please ask your question again.",
        "de": "Dieser Knopf ist abgelaufen. Bitte stell deine Frage noch einmal.",
    },
    "rate_limited": {
        "en": "You are asking faster than I can keep up ({limit} questions per minute). "
              "Please wait a moment and ask again.",
        "de": "Du fragst schneller, als ich mitkomme ({limit} Fragen pro Minute). "
              "Bitte warte kurz und frag dann noch einmal.",
    },
    "refused": {
        "en": "Sorry, this bot is private. Ask its operator for access.",
        "de": "Tut mir leid, dieser Bot ist privat. Frag den Betreiber nach Zugang.",
    },
    "private_only": {"en": "Please send me this command in a private chat.",
                     "de": "Bitte schick mir diesen Befehl in einem privaten Chat."},
    "sources_more": {"en": "… and {n} more.", "de": "… und {n} weitere."},
    "admin_only": {"en": "This command is for administrators only.",
                   "de": "Dieser Befehl ist nur für Administratoren."},
    "error": {
        "en": "Sorry, something went wrong on my side. Please try again in a moment.",
        "de": "Entschuldigung, bei mir ist etwas schiefgegangen. Bitte versuch es gleich noch einmal.",
    },
    "sources_head": {"en": "<b>{documents} article(s), {passages} passages</b>",
                     "de": "<b>{documents} Artikel, {passages} Abschnitte</b>"},
    "paragraph": {"en": "paragraph {n}", "de": "Absatz {n}"},
    "passages": {"en": "{n} passages", "de": "{n} Abschnitte"},
    "reloaded": {"en": "Loaded the new index: {passages} passages, built {built_at}.",
                 "de": "Neuer Index geladen: {passages} Abschnitte, gebaut {built_at}."},
    "not_reloaded": {"en": "The index on disk is unchanged ({passages} passages, built {built_at}).",
                     "de": "Der Index auf der Platte ist unverändert ({passages} Abschnitte, gebaut {built_at})."},
    "cmd_start": {"en": "What I know and how to ask", "de": "Was ich weiß und wie man fragt"},
    "cmd_help": {"en": "How to ask questions", "de": "Wie man Fragen stellt"},
    "cmd_sources": {"en": "The indexed articles", "de": "Die indexierten Artikel"},
}


def lang_of(language_code: str | None) -> str:
    """The reply language for a Telegram `language_code` such as `de-AT`; English otherwise."""
    code = (language_code or "").split("-")[0].lower()
    return code if code in LANGS else "en"


def t(key: str, lang: str, **values: object) -> str:
    """The text `key` in `lang` (English fallback), with `values` filled in."""
    table = TEXTS[key]
    text = table.get(lang) or table["en"]
    return text.format(**values) if values else text
