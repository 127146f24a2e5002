"""Other ways of writing a mention's name, for candidates the KB's own names and aliases miss.

Real KBs list few aliases (most entities of the open-world KB have none), while news writes names its own way: a
company by its short form or with "Corp" the label lacks ("Microsoft Corp." / "Microsoft"), an abbreviated word
("Univ.", "Dept.", "Mt."), a US state by its AP or postal abbreviation ("Calif.", "N.Y.", "TX"). Each variant is a
normal form (`kgstore.names.normalise`) that the linker looks up exactly, beside the mention's own form.
Acronyms ("NYSE") are matched against the initials of the KB's multi-word names instead (`kgstore.names.acronym`).
"""

from __future__ import annotations

from kg.kgstore.names import LEGAL_SUFFIXES, initials, normalise

# the legal forms a company name is written with, as a label would spell them (normal forms)
COMPANY_FORMS = ("inc", "corporation", "corp", "company", "co", "ltd", "limited", "plc", "group", "ag", "sa", "llc",
                 "holdings")
# an abbreviated word and the word it stands for, both ways (normal forms: "Univ." is "univ")
WORDS = {"univ": "university", "dept": "department", "intl": "international", "natl": "national",
         "assn": "association", "assoc": "association", "bros": "brothers", "mt": "mount", "ft": "fort",
         "st": "saint", "govt": "government", "inst": "institute", "coll": "college", "hosp": "hospital",
         "corp": "corporation", "co": "company", "inc": "incorporated", "ltd": "limited", "mfg": "manufacturing",
         "amer": "american", "ctr": "center", "cncl": "council", "sch": "school"}
WORDS_BACK = {full: short for short, full in WORDS.items() if short in ("mt", "ft", "st", "corp", "co", "inc", "ltd")}
# US states: AP style abbreviations and postal codes (normal forms) -> the state's name
STATES = {
    "Alabama": ("ala", "al"), "Alaska": ("ak",), "Arizona": ("ariz", "az"), "Arkansas": ("ark", "ar"),
    "California": ("calif", "cal", "ca"), "Colorado": ("colo", "co"), "Connecticut": ("conn", "ct"),
    "Delaware": ("del", "de"), "Florida": ("fla", "fl"), "Georgia": ("ga",), "Hawaii": ("hi",), "Idaho": ("id",),
    "Illinois": ("ill", "il"), "Indiana": ("ind", "in"), "Iowa": ("ia",), "Kansas": ("kan", "kans", "ks"),
    "Kentucky": ("ky",), "Louisiana": ("la",), "Maine": ("me",), "Maryland": ("md",), "Massachusetts": ("mass", "ma"),
    "Michigan": ("mich", "mi"), "Minnesota": ("minn", "mn"), "Mississippi": ("miss", "ms"), "Missouri": ("mo",),
    "Montana": ("mont", "mt"), "Nebraska": ("neb", "nebr", "ne"), "Nevada": ("nev", "nv"),
    "New Hampshire": ("nh",), "New Jersey": ("nj",), "New Mexico": ("nm",), "New York": ("ny",),
    "North Carolina": ("nc",), "North Dakota": ("nd",), "Ohio": ("oh",), "Oklahoma": ("okla", "ok"),
    "Oregon": ("ore", "or"), "Pennsylvania": ("pa", "penn"), "Rhode Island": ("ri",), "South Carolina": ("sc",),
    "South Dakota": ("sd",), "Tennessee": ("tenn", "tn"), "Texas": ("tex", "tx"), "Utah": ("ut",),
    "Vermont": ("vt",), "Virginia": ("va",), "Washington": ("wash", "wa"), "West Virginia": ("wva", "wv"),
    "Wisconsin": ("wis", "wisc", "wi"), "Wyoming": ("wyo", "wy"),
}
STATE_OF = {short: normalise(state) for state, shorts in STATES.items() for short in shorts}
# country initials as news writes them, inside a longer name ("U.S. Air Force"); normal forms
COUNTRY_INITIALS = {"u s": "united states", "us": "united states", "u k": "united kingdom", "uk": "united kingdom",
                    "u n": "united nations", "e u": "european union"}
STATE_NAMES = frozenset(normalise(state) for state in STATES)
# the states' AP forms end with a full stop or are two capitals: "Ill." and "IL" are Illinois, "ill" is not
POSTAL_ONLY = frozenset(short for shorts in STATES.values() for short in shorts if len(short) == 2)


# demonyms and the place they name (a text's "Russian" is often Russia itself: Wikipedia-style annotation links it
# there); the regular ones ("Canadian" from "Canada") are derived, these are not
DEMONYMS = {
    "American": "United States", "British": "United Kingdom", "Briton": "United Kingdom", "English": "England",
    "Scottish": "Scotland", "Scots": "Scotland", "Welsh": "Wales", "Irish": "Ireland", "French": "France",
    "Dutch": "Netherlands", "Danish": "Denmark", "Dane": "Denmark", "Swedish": "Sweden", "Swede": "Sweden",
    "Finnish": "Finland", "Finn": "Finland", "Polish": "Poland", "Pole": "Poland", "Turkish": "Turkey",
    "Turk": "Turkey", "Spanish": "Spain", "Spaniard": "Spain", "Portuguese": "Portugal", "Swiss": "Switzerland",
    "Greek": "Greece", "Chinese": "China", "Japanese": "Japan", "Vietnamese": "Vietnam", "Thai": "Thailand",
    "Filipino": "Philippines", "Icelandic": "Iceland", "Czech": "Czech Republic", "Slovak": "Slovakia",
    "Norwegian": "Norway", "Israeli": "Israel", "Iraqi": "Iraq", "Pakistani": "Pakistan", "Afghan": "Afghanistan",
    "Bangladeshi": "Bangladesh", "Saudi": "Saudi Arabia", "Kuwaiti": "Kuwait", "Yemeni": "Yemen", "Qatari": "Qatar",
    "Emirati": "United Arab Emirates", "Lebanese": "Lebanon", "Sudanese": "Sudan", "Congolese": "Congo",
    "Senegalese": "Senegal", "Maltese": "Malta", "Peruvian": "Peru", "Argentine": "Argentina",
    "Argentinian": "Argentina", "Chilean": "Chile", "Mexican": "Mexico", "Cuban": "Cuba", "Croatian": "Croatia",
    "Croat": "Croatia", "Serbian": "Serbia", "Serb": "Serbia", "Bosnian": "Bosnia and Herzegovina",
    "New Zealand": "New Zealand", "Kiwi": "New Zealand", "Viennese": "Vienna", "Roman": "Rome",
    "Parisian": "Paris", "Londoner": "London", "Soviet": "Soviet Union", "Flemish": "Flanders",
}
SUFFIXES = (("ian", ("ia", "y", "a")), ("an", ("a",)), ("ese", ("", "a")), ("ish", ("land",)), ("i", ("",)))


def demonym_places(surface: str) -> list[str]:
    """The place a capitalised demonym may stand for, as names to look up ("Hungarian": "hungary", "hungaria",
    "hungara"...; "British": "united kingdom"): the irregular ones from DEMONYMS, the rest by stripping the demonym's
    ending and adding a country name's (the lookup keeps only real names)."""
    word = surface.strip()
    if word.endswith("s") and word[:-1] in DEMONYMS:
        word = word[:-1]  # "Danes", "Poles"
    if not word[:1].isupper() or " " in word:
        return []
    if word in DEMONYMS:
        return [normalise(DEMONYMS[word])]
    out: dict[str, None] = {}
    for ending, replacements in SUFFIXES:
        if word.endswith(ending) and len(word) > len(ending) + 2:
            stem = word[:-len(ending)]
            out.update(dict.fromkeys(normalise(stem + r) for r in replacements))
    out.pop(normalise(word), None)
    return list(out)


def state_of(surface: str) -> str | None:
    """The US state an abbreviation names ("Calif.", "N.Y.", "TX"), as a normal form; None for anything else
    (a lowercase word, or a capitalised one without its full stop: "Mass" and "Miss" are words)."""
    text = surface.strip()
    letters = text.replace(".", "")
    short = normalise(letters)
    if short not in STATE_OF:
        return None
    if short in POSTAL_ONLY and letters.isupper() and letters.isalpha():
        return STATE_OF[short]
    if text.endswith(".") and text[:1].isupper():
        return STATE_OF[short]
    return None


def variants(surface: str, company: bool = False) -> list[str]:
    """Other normal forms the mention's name may be written as in the KB (never its own form).

    - a legal suffix dropped ("Microsoft Corp." -> "microsoft") or, for a `company` mention (an organisation by its
      NER label, or no label at all), the usual ones added ("Apple" -> "apple inc", "apple corporation", ...);
    - each abbreviated word expanded or contracted ("Stanford Univ." -> "stanford university", "Saint Louis" ->
      "st louis");
    - a US state's abbreviation expanded ("Calif." -> "california");
    - a place with its state, as news writes it, also as the place alone ("Mandan, North Dakota" -> "mandan");
    - a long name of three words or more also as its initials, which a KB may use as the label ("Independent
      Television News Limited" -> "itn").
    """
    form = normalise(surface)
    words = form.split()
    if not words:
        return []
    out: dict[str, None] = {}
    state = state_of(surface)
    if state:
        out[state] = None
    stem = words[:-1] if len(words) > 1 and words[-1] in LEGAL_SUFFIXES else words
    if stem is not words:
        out[" ".join(stem)] = None
    if company and surface.strip()[:1].isupper() and not state:
        for suffix in COMPANY_FORMS:
            out[" ".join([*stem, suffix])] = None
    for table in (WORDS, WORDS_BACK):
        if len(words) > 1 and any(w in table for w in words):
            out[" ".join(table.get(w, w) for w in words)] = None
    for short, full in COUNTRY_INITIALS.items():
        if form.startswith(short + " ") and len(form) > len(short) + 1:
            out[full + form[len(short):]] = None
    head, comma, tail = surface.partition(", ")
    if comma and head.strip() and (normalise(tail) in STATE_NAMES or state_of(tail)):
        out[normalise(head)] = None
    if len(words) >= 3 and not comma:
        out.update(dict.fromkeys(f for f in initials([surface]) if len(f) >= 3))
    out.pop(form, None)
    return list(out)
