"""The bot's own texts in German, English, Russian, Ukrainian, Spanish and French.

A reply is in the language of the question when the question shows one, else in the language of the
user's Telegram app, else English. Kept in one table so a missing translation is a test failure, not a
silent English reply.
"""

from __future__ import annotations

from ..lang import guess_language

LANGS = ("en", "de", "ru", "uk", "es", "fr")

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
        "ru": ("Здравствуйте! Я отвечаю на вопросы по {documents} новостным статьям ({passages} фрагментов), "
               "цитируя самые подходящие места с указанием источника.\n\n"
               "Просто пришлите вопрос, например:\n<i>{example}</i>\n\n"
               "/sources — список статей, /help — подробнее."),
        "uk": ("Вітаю! Я відповідаю на запитання щодо {documents} новинних статей ({passages} фрагментів), "
               "цитуючи найдоречніші місця з джерелом.\n\n"
               "Просто надішліть запитання, наприклад:\n<i>{example}</i>\n\n"
               "/sources — перелік статей, /help — докладніше."),
        "es": ("¡Hola! Respondo preguntas sobre {documents} artículo(s) de noticias ({passages} fragmentos) "
               "citando los pasajes que mejor encajan, con su fuente.\n\n"
               "Envíame una pregunta, por ejemplo:\n<i>{example}</i>\n\n"
               "/sources muestra los artículos, /help explica más."),
        "fr": ("Bonjour ! Je réponds aux questions sur {documents} article(s) de presse ({passages} passages) "
               "en citant les passages les plus pertinents, avec leur source.\n\n"
               "Envoyez-moi simplement une question, par exemple :\n<i>{example}</i>\n\n"
               "/sources liste les articles, /help en dit plus."),
    },
    "help": {
        "en": ("<b>How to ask</b>\nWrite a question in a full sentence, naming people, places or events, "
               "e.g. <i>{example}</i>\n\n"
               "I quote the best passages; the sentence that answers best is <b>bold</b>. Tap a collapsed "
               "quote to open it; \"More\" shows further passages.\n\n"
               "<b>Groups:</b> mention me (@{username}) or reply to my message.\n"
               "<b>Any chat:</b> type <code>@{username} your question</code> to share a passage.\n\n"
               "/sources – the articles I know\n/help – this text"),
        "de": ("<b>So fragst du</b>\nStell eine Frage als ganzen Satz und nenne Personen, Orte oder "
               "Ereignisse, z. B. <i>{example}</i>\n\n"
               "Ich zitiere die besten Stellen; der Satz, der am besten antwortet, ist <b>fett</b>. Tipp auf "
               "ein eingeklapptes Zitat, um es zu öffnen; „Mehr“ zeigt weitere Stellen.\n\n"
               "<b>Gruppen:</b> erwähne mich (@{username}) oder antworte auf meine Nachricht.\n"
               "<b>Jeder Chat:</b> tippe <code>@{username} deine Frage</code>, um eine Stelle zu teilen.\n\n"
               "/sources – die Artikel, die ich kenne\n/help – dieser Text"),
        "ru": ("<b>Как спрашивать</b>\nЗадайте вопрос полным предложением, называя людей, места или "
               "события, например <i>{example}</i>\n\n"
               "Я цитирую лучшие фрагменты; предложение, которое отвечает лучше всего, выделено "
               "<b>жирным</b>. Нажмите на свёрнутую цитату, чтобы раскрыть её; «Ещё» показывает другие "
               "фрагменты.\n\n"
               "<b>Группы:</b> упомяните меня (@{username}) или ответьте на моё сообщение.\n"
               "<b>Любой чат:</b> наберите <code>@{username} ваш вопрос</code>, чтобы поделиться фрагментом.\n\n"
               "/sources – статьи, которые я знаю\n/help – эта справка"),
        "uk": ("<b>Як запитувати</b>\nСтавте запитання повним реченням, називаючи людей, місця чи події, "
               "наприклад <i>{example}</i>\n\n"
               "Я цитую найкращі фрагменти; речення, що відповідає найкраще, виділене <b>жирним</b>. "
               "Натисніть на згорнуту цитату, щоб розгорнути її; «Ще» показує інші фрагменти.\n\n"
               "<b>Групи:</b> згадайте мене (@{username}) або дайте відповідь на моє повідомлення.\n"
               "<b>Будь-який чат:</b> наберіть <code>@{username} ваше запитання</code>, щоб поділитися "
               "фрагментом.\n\n"
               "/sources – статті, які я знаю\n/help – ця довідка"),
        "es": ("<b>Cómo preguntar</b>\nEscribe una pregunta completa y nombra personas, lugares o hechos, "
               "p. ej. <i>{example}</i>\n\n"
               "Cito los mejores pasajes; la frase que mejor responde va en <b>negrita</b>. Toca una cita "
               "plegada para abrirla; «Más» muestra más pasajes.\n\n"
               "<b>Grupos:</b> mencióname (@{username}) o responde a mi mensaje.\n"
               "<b>Cualquier chat:</b> escribe <code>@{username} tu pregunta</code> para compartir un pasaje.\n\n"
               "/sources – los artículos que conozco\n/help – este texto"),
        "fr": ("<b>Comment poser une question</b>\nÉcrivez une phrase complète en nommant des personnes, des "
               "lieux ou des événements, par ex. <i>{example}</i>\n\n"
               "Je cite les meilleurs passages ; la phrase qui répond le mieux est en <b>gras</b>. Touchez "
               "une citation repliée pour l’ouvrir ; « Plus » montre d’autres passages.\n\n"
               "<b>Groupes :</b> mentionnez-moi (@{username}) ou répondez à mon message.\n"
               "<b>Toute discussion :</b> tapez <code>@{username} votre question</code> pour partager un "
               "passage.\n\n"
               "/sources – les articles que je connais\n/help – ce texte"),
    },
    "example": {
        "en": "What did Joe Biden say about Ukraine?",
        "de": "Wie heißt der nationale Sicherheitsberater der USA?",
        "ru": "Что сказал Джо Байден об Украине?",
        "uk": "Що сказав Джо Байден про Україну?",
        "es": "¿Qué dijo Joe Biden sobre Ucrania?",
        "fr": "Qu’a dit Joe Biden à propos de l’Ukraine ?",
    },
    "nothing_found": {
        "en": ("I found nothing in the articles that answers this. Try other words, or ask about a person, "
               "place or event the articles cover (/sources lists them)."),
        "de": ("Dazu habe ich in den Artikeln nichts Passendes gefunden. Versuch es mit anderen Worten oder "
               "frag nach einer Person, einem Ort oder Ereignis aus den Artikeln (/sources zeigt sie)."),
        "ru": ("В статьях нет ничего, что отвечало бы на этот вопрос. Попробуйте другие слова или спросите "
               "о человеке, месте или событии из статей (/sources покажет их)."),
        "uk": ("У статтях немає нічого, що відповідало б на це запитання. Спробуйте інші слова або запитайте "
               "про людину, місце чи подію зі статей (/sources покаже їх)."),
        "es": ("No encontré nada en los artículos que responda a esto. Prueba con otras palabras o pregunta "
               "por una persona, un lugar o un hecho de los artículos (/sources los muestra)."),
        "fr": ("Je n’ai rien trouvé dans les articles qui réponde à cela. Essayez d’autres mots, ou posez une "
               "question sur une personne, un lieu ou un événement des articles (/sources les liste)."),
    },
    "no_words": {
        "en": "Please ask a question in words, e.g. <i>{example}</i>",
        "de": "Bitte stell eine Frage in Worten, z. B. <i>{example}</i>",
        "ru": "Пожалуйста, задайте вопрос словами, например <i>{example}</i>",
        "uk": "Будь ласка, поставте запитання словами, наприклад <i>{example}</i>",
        "es": "Por favor, haz una pregunta con palabras, p. ej. <i>{example}</i>",
        "fr": "Posez une question avec des mots, par ex. <i>{example}</i>",
    },
    "text_only": {
        "en": "I can only answer text questions. Send me your question as a message.",
        "de": "Ich kann nur Textfragen beantworten. Schick mir deine Frage als Nachricht.",
        "ru": "Я отвечаю только на текстовые вопросы. Пришлите вопрос сообщением.",
        "uk": "Я відповідаю лише на текстові запитання. Надішліть запитання повідомленням.",
        "es": "Solo respondo preguntas de texto. Envíame tu pregunta como mensaje.",
        "fr": "Je ne réponds qu’aux questions écrites. Envoyez-moi votre question en message.",
    },
    "more_button": {"en": "More ▸", "de": "Mehr ▸", "ru": "Ещё ▸", "uk": "Ще ▸", "es": "Más ▸", "fr": "Plus ▸"},
    "no_more": {"en": "No further passages.", "de": "Keine weiteren Stellen.", "ru": "Других фрагментов нет.",
                "uk": "Інших фрагментів немає.", "es": "No hay más pasajes.", "fr": "Pas d’autres passages."},
    "sources_admins_only": {
        "en": "Only the bot's administrators can add articles, pages or feeds. Ask me a question instead!",
        "de": "Nur die Administratoren des Bots können Artikel, Seiten oder Feeds hinzufügen. Stell mir "
              "stattdessen eine Frage!",
        "ru": "Добавлять статьи, страницы и ленты могут только администраторы бота. Задайте мне лучше вопрос!",
        "uk": "Додавати статті, сторінки та стрічки можуть лише адміністратори бота. Краще поставте мені "
              "запитання!",
        "es": "Solo los administradores del bot pueden añadir artículos, páginas o feeds. ¡Hazme una pregunta!",
        "fr": "Seuls les administrateurs du bot peuvent ajouter des articles, des pages ou des flux. Posez-moi "
              "plutôt une question !",
    },
    "source_working": {"en": "Fetching and indexing … this can take a minute.",
                       "de": "Wird geladen und indexiert … das kann eine Minute dauern.",
                       "ru": "Загружаю и индексирую … это может занять минуту.",
                       "uk": "Завантажую та індексую … це може тривати хвилину.",
                       "es": "Descargando e indexando … puede tardar un minuto.",
                       "fr": "Téléchargement et indexation … cela peut prendre une minute."},
    "source_busy": {"en": "Another source is being added right now. Please send this one again in a minute.",
                    "de": "Gerade wird schon eine Quelle hinzugefügt. Bitte schick diese in einer Minute noch einmal.",
                    "ru": "Сейчас уже добавляется другой источник. Пришлите этот ещё раз через минуту.",
                    "uk": "Зараз уже додається інше джерело. Надішліть це ще раз за хвилину.",
                    "es": "Ahora mismo se está añadiendo otra fuente. Vuelve a enviar esta dentro de un minuto.",
                    "fr": "Une autre source est en cours d’ajout. Renvoyez celle-ci dans une minute."},
    "source_added": {"en": "Added {articles} article(s):\n{titles}\nThe index now holds {passages} passages; every "
                           "replica answers from it within {seconds} s.",
                     "de": "{articles} Artikel hinzugefügt:\n{titles}\nDer Index hat jetzt {passages} Abschnitte; "
                           "alle Instanzen antworten spätestens in {seconds} s daraus.",
                     "ru": "Добавлено статей: {articles}\n{titles}\nТеперь в индексе {passages} фрагментов; все "
                           "экземпляры бота отвечают по нему не позже чем через {seconds} с.",
                     "uk": "Додано статей: {articles}\n{titles}\nТепер в індексі {passages} фрагментів; усі "
                           "екземпляри бота відповідають за ним не пізніше ніж за {seconds} с.",
                     "es": "Artículos añadidos: {articles}\n{titles}\nEl índice tiene ahora {passages} pasajes; todas "
                           "las réplicas responden con él en {seconds} s como mucho.",
                     "fr": "Articles ajoutés : {articles}\n{titles}\nL’index compte maintenant {passages} passages ; "
                           "toutes les instances répondent avec lui d’ici {seconds} s."},
    "source_unchanged": {"en": "Nothing new: the index already holds this ({passages} passages).",
                         "de": "Nichts Neues: Der Index enthält das schon ({passages} Abschnitte).",
                         "ru": "Ничего нового: это уже есть в индексе ({passages} фрагментов).",
                         "uk": "Нічого нового: це вже є в індексі ({passages} фрагментів).",
                         "es": "Nada nuevo: el índice ya lo contiene ({passages} pasajes).",
                         "fr": "Rien de nouveau : l’index le contient déjà ({passages} passages)."},
    "source_feed": {"en": "Subscribed to the feed; new items are fetched with every indexing round.",
                    "de": "Feed abonniert; neue Einträge werden bei jeder Indexierung geholt.",
                    "ru": "Подписка на ленту оформлена; новые записи загружаются при каждой индексации.",
                    "uk": "Стрічку підписано; нові записи завантажуються під час кожної індексації.",
                    "es": "Suscrito al feed; las entradas nuevas se descargan en cada indexación.",
                    "fr": "Abonné au flux ; les nouveaux éléments sont récupérés à chaque indexation."},
    "source_problems": {"en": "{count} item(s) could not be fetched; they are tried again next time.",
                        "de": "{count} Eintrag/Einträge konnten nicht geladen werden; beim nächsten Mal wieder.",
                        "ru": "Не удалось загрузить записей: {count}; в следующий раз попробую снова.",
                        "uk": "Не вдалося завантажити записів: {count}; наступного разу спробую знову.",
                        "es": "No se pudieron descargar {count} entradas; se reintentará la próxima vez.",
                        "fr": "{count} élément(s) n’ont pas pu être récupérés ; nouvel essai la prochaine fois."},
    "source_failed": {"en": "That did not work: {error}", "de": "Das hat nicht geklappt: {error}",
                      "ru": "Не получилось: {error}", "uk": "Не вийшло: {error}", "es": "No ha funcionado: {error}",
                      "fr": "Cela n’a pas marché : {error}"},
    "source_too_large": {"en": "This document is too large ({size} MB; the limit is {limit} MB).",
                         "de": "Dieses Dokument ist zu groß ({size} MB; die Grenze ist {limit} MB).",
                         "ru": "Документ слишком большой ({size} МБ; предел {limit} МБ).",
                         "uk": "Документ завеликий ({size} МБ; межа {limit} МБ).",
                         "es": "Este documento es demasiado grande ({size} MB; el límite es {limit} MB).",
                         "fr": "Ce document est trop volumineux ({size} Mo ; la limite est {limit} Mo)."},
    "source_bad_type": {"en": "I can add HTML, PDF, TXT and MD documents, not this one.",
                        "de": "Ich kann HTML-, PDF-, TXT- und MD-Dokumente hinzufügen, dieses nicht.",
                        "ru": "Я могу добавить документы HTML, PDF, TXT и MD, но не этот.",
                        "uk": "Я можу додати документи HTML, PDF, TXT і MD, але не цей.",
                        "es": "Puedo añadir documentos HTML, PDF, TXT y MD, pero no este.",
                        "fr": "Je peux ajouter des documents HTML, PDF, TXT et MD, mais pas celui-ci."},
    "feedback_thanks": {"en": "Thank you! Your rating helps to improve the answers.",
                        "de": "Danke! Deine Bewertung hilft, die Antworten zu verbessern.",
                        "ru": "Спасибо! Ваша оценка помогает улучшать ответы.",
                        "uk": "Дякуємо! Ваша оцінка допомагає покращувати відповіді.",
                        "es": "¡Gracias! Tu valoración ayuda a mejorar las respuestas.",
                        "fr": "Merci ! Votre avis aide à améliorer les réponses."},
    "stale_button": {
        "en": "This button has expired. Please ask your question again.",
        "de": "Dieser Knopf ist abgelaufen. Bitte stell deine Frage noch einmal.",
        "ru": "Эта кнопка устарела. Пожалуйста, задайте вопрос ещё раз.",
        "uk": "Ця кнопка застаріла. Будь ласка, поставте запитання ще раз.",
        "es": "Este botón ha caducado. Vuelve a hacer tu pregunta.",
        "fr": "Ce bouton a expiré. Reposez votre question, s’il vous plaît.",
    },
    "rate_limited": {
        "en": "You are asking faster than I can keep up ({limit} questions per minute). "
              "Please wait a moment and ask again.",
        "de": "Du fragst schneller, als ich mitkomme ({limit} Fragen pro Minute). "
              "Bitte warte kurz und frag dann noch einmal.",
        "ru": "Вы спрашиваете быстрее, чем я успеваю ({limit} вопросов в минуту). "
              "Подождите немного и спросите снова.",
        "uk": "Ви запитуєте швидше, ніж я встигаю ({limit} запитань на хвилину). "
              "Зачекайте трохи й запитайте знову.",
        "es": "Preguntas más rápido de lo que puedo responder ({limit} preguntas por minuto). "
              "Espera un momento y vuelve a preguntar.",
        "fr": "Vous posez des questions plus vite que je ne peux suivre ({limit} questions par minute). "
              "Patientez un instant, puis reposez-la.",
    },
    "refused": {
        "en": "Sorry, this bot is private. Ask its operator for access.",
        "de": "Tut mir leid, dieser Bot ist privat. Frag den Betreiber nach Zugang.",
        "ru": "Извините, это закрытый бот. Попросите доступ у его владельца.",
        "uk": "Вибачте, це приватний бот. Попросіть доступ у його власника.",
        "es": "Lo siento, este bot es privado. Pide acceso a quien lo gestiona.",
        "fr": "Désolé, ce bot est privé. Demandez l’accès à son exploitant.",
    },
    "private_only": {"en": "Please send me this command in a private chat.",
                     "de": "Bitte schick mir diesen Befehl in einem privaten Chat.",
                     "ru": "Пожалуйста, отправьте мне эту команду в личном чате.",
                     "uk": "Будь ласка, надішліть мені цю команду в особистому чаті.",
                     "es": "Envíame este comando en un chat privado, por favor.",
                     "fr": "Envoyez-moi cette commande dans une discussion privée, s’il vous plaît."},
    "sources_page": {"en": "· page {page}/{pages}", "de": "· Seite {page}/{pages}", "ru": "· стр. {page}/{pages}",
                     "uk": "· стор. {page}/{pages}", "es": "· página {page}/{pages}", "fr": "· page {page}/{pages}"},
    "admin_only": {"en": "This command is for administrators only.",
                   "de": "Dieser Befehl ist nur für Administratoren.",
                   "ru": "Эта команда только для администраторов.",
                   "uk": "Ця команда лише для адміністраторів.",
                   "es": "Este comando es solo para administradores.",
                   "fr": "Cette commande est réservée aux administrateurs."},
    "error": {
        "en": "Sorry, something went wrong on my side. Please try again in a moment.",
        "de": "Entschuldigung, bei mir ist etwas schiefgegangen. Bitte versuch es gleich noch einmal.",
        "ru": "Извините, у меня что-то пошло не так. Попробуйте ещё раз чуть позже.",
        "uk": "Вибачте, у мене щось пішло не так. Спробуйте ще раз трохи згодом.",
        "es": "Lo siento, algo ha fallado por mi parte. Inténtalo de nuevo en un momento.",
        "fr": "Désolé, un problème est survenu de mon côté. Réessayez dans un instant.",
    },
    "sources_head": {"en": "<b>{documents} article(s), {passages} passages</b>",
                     "de": "<b>{documents} Artikel, {passages} Abschnitte</b>",
                     "ru": "<b>Статей: {documents}, фрагментов: {passages}</b>",
                     "uk": "<b>Статей: {documents}, фрагментів: {passages}</b>",
                     "es": "<b>{documents} artículo(s), {passages} fragmentos</b>",
                     "fr": "<b>{documents} article(s), {passages} passages</b>"},
    "paragraph": {"en": "paragraph {n}", "de": "Absatz {n}", "ru": "абзац {n}", "uk": "абзац {n}",
                  "es": "párrafo {n}", "fr": "paragraphe {n}"},
    "passages": {"en": "{n} passages", "de": "{n} Abschnitte", "ru": "фрагментов: {n}", "uk": "фрагментів: {n}",
                 "es": "{n} fragmentos", "fr": "{n} passages"},
    "reloaded": {"en": "Loaded the new index: {passages} passages, built {built_at}.",
                 "de": "Neuer Index geladen: {passages} Abschnitte, gebaut {built_at}.",
                 "ru": "Загружен новый индекс: {passages} фрагментов, построен {built_at}.",
                 "uk": "Завантажено новий індекс: {passages} фрагментів, побудовано {built_at}.",
                 "es": "Nuevo índice cargado: {passages} fragmentos, creado {built_at}.",
                 "fr": "Nouvel index chargé : {passages} passages, construit {built_at}."},
    "not_reloaded": {"en": "The index on disk is unchanged ({passages} passages, built {built_at}).",
                     "de": "Der Index auf der Platte ist unverändert ({passages} Abschnitte, gebaut {built_at}).",
                     "ru": "Индекс на диске не изменился ({passages} фрагментов, построен {built_at}).",
                     "uk": "Індекс на диску не змінився ({passages} фрагментів, побудовано {built_at}).",
                     "es": "El índice en disco no ha cambiado ({passages} fragmentos, creado {built_at}).",
                     "fr": "L’index sur disque est inchangé ({passages} passages, construit {built_at})."},
    "cmd_start": {"en": "What I know and how to ask", "de": "Was ich weiß und wie man fragt",
                  "ru": "Что я знаю и как спрашивать", "uk": "Що я знаю і як запитувати",
                  "es": "Qué sé y cómo preguntar", "fr": "Ce que je sais et comment demander"},
    "cmd_help": {"en": "How to ask questions", "de": "Wie man Fragen stellt", "ru": "Как задавать вопросы",
                 "uk": "Як ставити запитання", "es": "Cómo hacer preguntas", "fr": "Comment poser des questions"},
    "cmd_sources": {"en": "The indexed articles", "de": "Die indexierten Artikel", "ru": "Проиндексированные статьи",
                    "uk": "Проіндексовані статті", "es": "Los artículos indexados", "fr": "Les articles indexés"},
}


def lang_of(language_code: str | None) -> str:
    """The reply language for a Telegram `language_code` such as `de-AT`; English otherwise."""
    code = (language_code or "").split("-")[0].lower()
    return code if code in LANGS else "en"


def reply_lang(language_code: str | None, question: str | None = None) -> str:
    """The language to answer `question` in: the question's own language when it shows one we speak
    (a Ukrainian question from an English-language app gets Ukrainian texts), else the app's."""
    if question:
        guessed = guess_language(question)
        if guessed in LANGS:
            return guessed
    return lang_of(language_code)


def t(key: str, lang: str, **values: object) -> str:
    """The text `key` in `lang` (English fallback), with `values` filled in."""
    table = TEXTS[key]
    text = table.get(lang) or table["en"]
    return text.format(**values) if values else text
