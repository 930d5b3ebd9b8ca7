"""Rules of the PRS consultation (instruction n° 2016-154, § III.1; CSP R1434-1), called by the
scripts of `prs_consultation.bpmn`: which délai applies, which bodies must be consulted (from the
per-region referential `prs_consultation_organismes.json` beside the diagram), whose silence is
deemed an avis, and what a receipt date means. Pure functions: no clock, no database.
"""
from __future__ import annotations

import json
import re
import unicodedata
from datetime import date
from functools import lru_cache
from pathlib import Path

REFERENTIAL = Path(__file__).with_name("prs_consultation_organismes.json")

# « La période de consultation pour ces nouveaux PRS est de trois mois » ; « toutes modifications
# ou actualisations nécessaires feront l'objet d'une consultation d'une durée de deux mois ».
DELAIS = {"revision": "P3M", "elaboration": "P3M", "adoption": "P3M",
          "modification": "P2M", "actualisation": "P2M"}

# The instruction's own timetable (publication 30/09/2017, PRS arrêté on 1/01/2018) only holds
# if the délai is not extended to the next working day: the rule every PRS timer declares.
REGLE_DELAI = ("Délai de consultation non prorogé au jour ouvré suivant : l'instruction "
               "n° 2016-154 (§ III.1) fixe elle-même le calendrier « avis de consultation publié au "
               "plus tard le 30 septembre 2017 » pour un PRS « arrêté […] au plus tard le 1er janvier "
               "2018 », ce qui n'est possible que si le délai de trois mois (CSP R1434-1) s'achève le "
               "samedi 30 décembre 2017 à 24 h, sans report au mardi 2 janvier 2018.")

SENS = {"favorable": "Favorable", "reserve": "Favorable avec réserves", "defavorable": "Défavorable"}
# Sens for which « il vous est recommandé de motiver ces décisions par écrit » when not followed.
SENS_A_MOTIVER = ("defavorable", "reserve")

CS_NAME = "Conseil de surveillance de l'ARS"

# Keywords used when there is no referential for the region (or completion is off): each required
# category must appear in `bodies`; the message names the missing ones.
_REQUIRED_WITHOUT_REFERENTIAL = (
    ("prefet_region", "le préfet de région", (r"\bprefet\b",)),
    ("crsa", "la conférence régionale de la santé et de l'autonomie (CRSA)",
     (r"\bcrsa\b", r"conference regionale de la sante")),
    ("collectivite_territoriale", "au moins une collectivité territoriale de la région (conseil régional…)",
     (r"conseil regional", r"collectivite", r"conseil departemental", r"ville de paris", r"metropole")),
    ("cdca", "le ou les conseils départementaux de la citoyenneté et de l'autonomie (CDCA)",
     (r"\bcdca\b", r"citoyennete et de l autonomie")),
    ("maires", "les associations départementales des maires (pour les communes)", (r"\bmaires\b",)),
    ("adcf", "l'Assemblée des communautés de France (AdCF)", (r"\badcf\b", r"communautes de france")),
)


def _key(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", " ", ascii_text.casefold()).strip()


@lru_cache(maxsize=4)
def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def referential(path: str | Path | None = None) -> dict:
    return _load(str(path or REFERENTIAL))


def prs_delai(kind) -> str:
    """ISO délai for a consultation `kind`; ValueError names the accepted kinds."""
    if kind not in DELAIS:
        raise ValueError(
            f"kind : « {kind} » inconnu. Valeurs acceptées : revision ou elaboration (nouveau PRS, "
            "trois mois), modification ou actualisation (deux mois) — instruction n° 2016-154, § III.1")
    return DELAIS[kind]


def is_conseil_surveillance(name: str) -> bool:
    return "conseil de surveillance" in _key(name)


def _region_code(region, data: dict) -> str | None:
    if not region:
        return None
    wanted = _key(str(region))
    for code, entry in data["regions"].items():
        if wanted in (_key(code), _key(entry["name"])):
            return code
    return None


def prs_organismes(region=None, bodies=None, completer=True, path=None) -> dict:
    """The bodies to consult: `bodies` completed from the region's referential (when `completer`
    and the region has one), else checked against the instruction's list. ValueError names the
    missing ones. Returns {bodies, ajoutes, articles, repute_acquis, region}."""
    data = referential(path)
    given = bodies if bodies not in (None, "") else []
    if not isinstance(given, list) or not all(isinstance(b, str) and b.strip() for b in given):
        raise ValueError("bodies doit être une liste de noms d'organismes consultés (texte non vide)")
    given = [b.strip() for b in given]
    doubles = sorted({b for b in given if [_key(x) for x in given].count(_key(b)) > 1})
    if doubles:
        raise ValueError("bodies contient un organisme en double : " + ", ".join(doubles))
    code = _region_code(region, data)
    listed = {_key(b): b for b in given}
    articles: dict[str, str | None] = {b: None for b in given}
    categories: dict[str, str | None] = {b: None for b in given}
    added: list[str] = []
    if code is not None and completer:
        for entry in data["regions"][code]["bodies"]:
            name = listed.get(_key(entry["name"]))
            if name is None:
                name = entry["name"]
                added.append(name)
            articles[name] = entry.get("article")
            categories[name] = entry.get("category")
        result = given + added
    else:
        missing = [label for _, label, patterns in _REQUIRED_WITHOUT_REFERENTIAL
                   if not any(re.search(p, _key(b)) for b in given for p in patterns)]
        if missing:
            where = (f"la région « {region} » n'a pas de liste dans {REFERENTIAL.name}" if code is None
                     else "la complétion par le référentiel est désactivée (completer_organismes = false)")
            raise ValueError(
                "organismes à consulter manquants (instruction n° 2016-154, § III.1) : "
                + " ; ".join(missing) + f". Ajoutez-les à bodies ({where}).")
        result = list(given)
    if not any(is_conseil_surveillance(b) for b in result):
        result.append(CS_NAME)
        added.append(CS_NAME)
    repute = {}
    for name in result:
        category = "conseil_surveillance" if is_conseil_surveillance(name) else categories.get(name)
        repute[name] = data["categories"].get(category, {}).get("repute_acquis", True)
    return {"bodies": result, "ajoutes": added, "region": code,
            "articles": {b: articles.get(b) or guess_article(b) for b in result},
            "repute_acquis": repute}


_ARTICLE_BY_FIRST_WORD = {
    "prefet": "le", "prefete": "la", "crsa": "la", "conference": "la", "conseil": "le", "cdca": "le",
    "comite": "le", "collectivite": "la", "ville": "la", "metropole": "la", "commune": "la",
    "communaute": "la", "region": "la", "association": "l'", "assemblee": "l'", "adcf": "l'",
    "union": "l'", "agence": "l'", "departement": "le", "federation": "la",
}


def guess_article(name: str) -> str | None:
    first = _key(name).split(" ", 1)[0] if name.strip() else ""
    return _ARTICLE_BY_FIRST_WORD.get(first)


def avis_de(name: str, article: str | None = None) -> str:
    """« avis de la CRSA… », « avis du préfet… », « avis de l'association… »."""
    article = article if article is not None else guess_article(name)
    if not name:
        return "avis"
    first = name.split(" ", 1)[0]
    acronym = any(c.isupper() for c in first[1:])  # CRSA, CDCA, AdCF keep their capitals
    lowered = name if acronym else name[0].lower() + name[1:]
    if article == "le":
        return "avis du " + lowered
    if article == "les":
        return "avis des " + lowered
    if article == "la":
        return "avis de la " + lowered
    if article == "l'":
        return "avis de l'" + lowered
    return "avis de " + name


def check_received_on(received_on, publication_date, today) -> str | None:
    """Why `received_on` cannot be a receipt date (French), or None."""
    try:
        day = date.fromisoformat(str(received_on)[:10])
    except ValueError:
        return f"date de réception illisible : {received_on!r} (AAAA-MM-JJ)"
    if day > date.fromisoformat(str(today)[:10]):
        return (f"date de réception {day.strftime('%d/%m/%Y')} dans le futur : "
                "indiquez le jour où l'avis a été reçu")
    if day < date.fromisoformat(str(publication_date)[:10]):
        return (f"date de réception {day.strftime('%d/%m/%Y')} antérieure à la publication de l'avis "
                f"de consultation ({date.fromisoformat(str(publication_date)[:10]).strftime('%d/%m/%Y')})")
    return None


def receipt_status(received_on, last_day) -> str:
    """The receipt date decides (not the day it is keyed in): received on or before the last day
    of the délai → the avis is explicit; after → late (the tacit avis stays acquired)."""
    return "explicit" if str(received_on)[:10] <= str(last_day)[:10] else "late"


HELPERS = {"prs_delai": prs_delai, "prs_organismes": prs_organismes, "avis_de": avis_de,
           "prs_check_received_on": check_received_on, "prs_receipt_status": receipt_status,
           "prs_regle_delai": lambda: REGLE_DELAI}
