"""200 mixed-language texts for comparing two encoders of the same model (`e5_folder --check`).

Questions and news-like sentences written for this purpose in nine languages, and passages made of
them: single sentences, runs of three to eight sentences (some over 128 tokens, none over 400),
two-language passages, and short headline-like snippets with names, numbers and typography.
"""

from __future__ import annotations

QUESTIONS = {
    "de": ["Wer ist Jake Sullivan?", "Wie viele Soldaten wurden nach Kursk verlegt?",
           "Warum steigen die Strompreise im Winter?", "Wann beginnt die Fußball-Europameisterschaft?",
           "Welche Stadt wurde in der Nacht mit Drohnen angegriffen?",
           "Was hat die Bundesregierung zur Schuldenbremse beschlossen?"],
    "en": ["Who won the election in the Netherlands?", "How much did inflation rise in October?",
           "What did the Pentagon confirm about North Korean troops?", "Where will the next climate summit be held?",
           "Why was the flight from Frankfurt cancelled?", "Which company announced layoffs this week?"],
    "ru": ["Кто такой Андрей Ермак?", "Какой город атаковали российские дроны?",
           "Сколько людей погибло во время наводнения?", "Когда откроется новая станция метро?",
           "Почему выросли цены на гречку?", "Что сказал министр о переговорах?"],
    "uk": ["Хто такий Андрій Єрмак?", "Скільки людей евакуювали з Харкова?",
           "Коли відновлять електропостачання в Києві?", "Які країни пообіцяли нову військову допомогу?",
           "Що сталося на залізничному вокзалі у Львові?", "Чому закрили школи в Одесі?"],
    "es": ["¿Quién ganó el partido de anoche en Madrid?", "¿Cuánto subió el precio del aceite de oliva?",
           "¿Dónde se produjo el terremoto?", "¿Qué dijo el presidente sobre la reforma laboral?",
           "¿Cuándo empieza la huelga de médicos?", "¿Por qué se cortó la autopista en Valencia?"],
    "fr": ["Qui a remporté le prix Goncourt cette année ?", "Combien de personnes ont manifesté à Paris ?",
           "Pourquoi les trains sont-ils en grève ?", "Quand la nouvelle loi entrera-t-elle en vigueur ?",
           "Où l'incendie a-t-il éclaté ?", "Que prévoit le budget pour les hôpitaux ?"],
    "it": ["Chi è il nuovo allenatore della Juventus?", "Quanti turisti hanno visitato Venezia ad agosto?",
           "Perché è stato chiuso il porto di Genova?", "Quando riapre il Colosseo dopo i lavori?",
           "Che cosa ha deciso il governo sulle pensioni?", "Dove è stato ritrovato il dipinto rubato?"],
    "pl": ["Kto został nowym prezydentem Warszawy?", "Ile kosztuje bilet na pociąg do Gdańska?",
           "Dlaczego rolnicy zablokowali drogi?", "Kiedy otwarto nowy most na Wiśle?",
           "Co powiedział premier o podatkach?", "Gdzie doszło do wypadku autobusu?"],
    "cs": ["Kdo vyhrál volby v Brně?", "Kolik stojí nový tramvajový tunel v Praze?",
           "Proč stoupla cena elektřiny?", "Kdy začne rekonstrukce Karlova mostu?",
           "Co oznámila vláda o rozpočtu?", "Kde se stala nehoda vlaku?"],
}

STATEMENTS = {
    "de": [
        "Das Pentagon bestätigte am Montag, dass eine „kleine Anzahl“ nordkoreanischer Soldaten in die Region "
        "Kursk verlegt wurde.",
        "Der nationale Sicherheitsberater Jake Sullivan traf sich in Washington mit Andrij Jermak.",
        "In Charkiw wurden bei einem Luftangriff vier Menschen getötet und mehrere Gebäude beschädigt.",
        "Die Inflation in Deutschland lag im Oktober bei 2,4 Prozent, wie das Statistische Bundesamt mitteilte.",
        "Wegen eines Streiks fielen am Flughafen Frankfurt mehr als 300 Flüge aus.",
        "Die Bundesregierung einigte sich nach langen Verhandlungen auf den Haushalt für 2025.",
        "Im Alpenraum wird für das Wochenende starker Schneefall mit bis zu 50 Zentimetern erwartet.",
        "Der FC Bayern gewann das Spitzenspiel gegen Dortmund mit 3:1.",
    ],
    "en": [
        "The central bank kept interest rates unchanged at 5.25 percent, citing persistent inflation.",
        "Officials said at least twelve people were injured when a bus overturned near Leeds.",
        "The company announced it would cut 4,000 jobs worldwide by the end of next year.",
        "Heavy rain caused flooding across southern England, closing dozens of roads.",
        "The prime minister told parliament that the new housing plan would deliver 300,000 homes a year.",
        "Scientists reported that Arctic sea ice reached its second-lowest extent on record.",
        "The match was postponed after a waterlogged pitch failed an inspection.",
        "Ukraine's foreign minister called for more air defence systems ahead of the winter.",
    ],
    "ru": [
        "Ночью российские беспилотники атаковали Киев, ранены шесть мирных жителей.",
        "Министр финансов заявил, что дефицит бюджета в этом году будет ниже ожидаемого.",
        "В Санкт-Петербурге открылась выставка, посвящённая истории русского авангарда.",
        "Из-за сильного снегопада в Москве отменили более ста авиарейсов.",
        "Цены на продукты за месяц выросли в среднем на полтора процента.",
        "Спасатели эвакуировали жителей трёх сёл после прорыва дамбы.",
        "Сборная по хоккею одержала победу в финале турнира со счётом 4:2.",
        "Учёные сообщили о находке древнего поселения на берегу Байкала.",
    ],
    "uk": [
        "У Харкові внаслідок нічної атаки пошкоджено лікарню та кілька житлових будинків.",
        "Андрій Єрмак заявив, що військова допомога та посилення санкцій є необхідними.",
        "Укренерго повідомило про графіки відключень електроенергії в Київській області.",
        "У Львові відкрили новий центр реабілітації для поранених військових.",
        "Уряд ухвалив рішення підвищити мінімальну зарплату з січня.",
        "Через негоду в Карпатах заблоковано кілька гірських доріг.",
        "Київське «Динамо» перемогло у матчі чемпіонату з рахунком 2:0.",
        "Волонтери зібрали кошти на двадцять нових генераторів для шкіл Одеси.",
    ],
    "es": [
        "El Gobierno aprobó este martes una reforma que reduce la jornada laboral a 37,5 horas.",
        "Un terremoto de magnitud 5,2 sacudió la costa de Almería sin causar víctimas.",
        "El precio del aceite de oliva bajó un 20 % en los supermercados durante el último mes.",
        "Miles de personas se manifestaron en Valencia para exigir ayudas tras las inundaciones.",
        "El Real Madrid ganó por dos goles a uno en el último minuto del partido.",
        "Los médicos de atención primaria anunciaron una huelga indefinida a partir de enero.",
        "La ola de calor obligó a cerrar varios colegios en Andalucía.",
        "El Banco de España prevé que la economía crezca un 2,3 % este año.",
    ],
    "fr": [
        "Des milliers de personnes ont manifesté samedi à Paris contre la réforme des retraites.",
        "La SNCF prévoit de fortes perturbations sur les lignes régionales jeudi en raison d'une grève.",
        "Un incendie s'est déclaré dans un entrepôt près de Marseille, sans faire de blessés.",
        "Le gouvernement a présenté un budget qui prévoit trois milliards d'euros pour les hôpitaux.",
        "Le prix Goncourt a été attribué à un roman sur l'exil et la mémoire.",
        "Les prix de l'énergie devraient baisser légèrement au printemps, selon le ministère.",
        "L'équipe de France s'est qualifiée pour la demi-finale après une victoire aux tirs au but.",
        "Une tempête a privé d'électricité plus de 100 000 foyers en Bretagne.",
    ],
    "it": [
        "Il governo ha approvato la legge di bilancio dopo una lunga notte di trattative.",
        "Il porto di Genova è rimasto chiuso per due giorni a causa del forte vento.",
        "Ad agosto Venezia ha accolto oltre un milione di turisti, secondo il Comune.",
        "La polizia ha ritrovato a Napoli un dipinto rubato trent'anni fa.",
        "La Juventus ha annunciato il nuovo allenatore in una conferenza stampa.",
        "Il Colosseo riaprirà ai visitatori dopo sei mesi di lavori di restauro.",
        "Lo sciopero dei trasporti ha bloccato metropolitane e autobus a Milano.",
        "Secondo l'Istat, la disoccupazione è scesa al 6,1 per cento.",
    ],
    "pl": [
        "Rolnicy zablokowali drogi w kilku województwach, protestując przeciwko importowi zboża.",
        "Nowy most na Wiśle w Warszawie został otwarty dla ruchu w piątek.",
        "Premier zapowiedział obniżkę podatków dla najmniej zarabiających.",
        "W wypadku autobusu pod Krakowem rannych zostało piętnaście osób.",
        "Ceny biletów kolejowych do Gdańska wzrosną od grudnia o pięć procent.",
        "Reprezentacja Polski wygrała mecz eliminacyjny z Czechami 2:1.",
        "Synoptycy ostrzegają przed silnym wiatrem na wybrzeżu Bałtyku.",
        "Inflacja w Polsce spadła w październiku do 4,9 procent.",
    ],
    "cs": [
        "Vláda schválila rozpočet se schodkem 252 miliard korun.",
        "Cena elektřiny pro domácnosti stoupla od ledna o deset procent.",
        "Rekonstrukce Karlova mostu začne na jaře a potrvá dva roky.",
        "Při nehodě vlaku u Pardubic bylo zraněno osm cestujících.",
        "Nový tramvajový tunel v Praze bude stát přes čtyři miliardy korun.",
        "Sparta Praha porazila Slavii v derby 2:0.",
        "Meteorologové varují před povodněmi na severu Moravy.",
        "Volby v Brně vyhrála koalice, která slibuje levnější bydlení.",
    ],
}

SNIPPETS = [
    "Kursk", "Jake Sullivan", "NATO-Gipfel in Vilnius", "„Siegstrategie“ der Ukraine", "10.000 Soldaten",
    "Dr. Müller (SPD) — 3,5 % mehr", "Київ – Харків – Львів", "Єрмак: «Санкції необхідні»",
    "Москва, 12 ноября", "U.S. GDP +2.8% q/q", "Zelensky's 'victory plan'", "50 km/h → 30 km/h",
    "Łódź, Kraków, Wrocław", "Příliš žluťoučký kůň", "¿Qué pasa en Málaga?", "«Élysée» : l'accord",
    "Sant'Angelo, 1° novembre", "COVID-19 & H5N1", "e-mail: info@example.org", "2024-10-29 14:30 UTC",
]


def agreement_texts() -> list[str]:
    """The 200 texts, always in the same order."""
    texts: list[str] = []
    langs = list(STATEMENTS)
    for lang in langs:
        texts += QUESTIONS[lang]
    for lang in langs:
        texts += STATEMENTS[lang]
    for lang in langs:  # passages of 3, 5, 6 and 8 sentences
        s = STATEMENTS[lang]
        texts += [" ".join(s[0:3]), " ".join(s[3:8]), " ".join(s[2:8]), " ".join(s[::-1])]
    for i, lang in enumerate(langs):  # two languages in one passage, as in quoted news
        other = langs[(i + 1) % len(langs)]
        texts.append(" ".join(STATEMENTS[lang][:2] + STATEMENTS[other][:2]))
    for lang in langs:  # a question followed by its context: long, mixed kinds
        texts.append(" ".join(QUESTIONS[lang][:2] + STATEMENTS[lang]))
    texts += SNIPPETS
    return texts
