"""What a form tells people: FormError to the process owner whose file is unusable,
FormValidationError and the French messages to the user whose submission is refused."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping


class FormError(ValueError):
    """A form file that cannot be used: the message names the file, the component and why."""

    def __init__(
        self,
        message: str,
        *,
        filename: str | None = None,
        component: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ):
        self.filename = filename
        self.component = component
        self.line = line
        self.column = column
        self.reason = message
        parts = [filename] if filename else []
        if component:
            parts.append(f"composant {component}")
        parts.append(message)
        super().__init__(" : ".join(parts))


class FormValidationError(ValueError):
    """Submitted data rejected; ``errors`` maps each field's data path to a French message."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors: dict[str, str] = dict(errors)
        count = len(self.errors)
        head = "1 champ invalide" if count == 1 else f"{count} champs invalides"
        detail = " ; ".join(f"{name} : {msg}" for name, msg in self.errors.items())
        super().__init__(f"{head} — {detail}")


# French messages, in one place so the web layer and the tests agree on wording.
MSG_REQUIRED = "Ce champ est obligatoire."
MSG_REQUIRED_CHECKBOX = "Cette case doit être cochée."
MSG_REQUIRED_MULTI = "Sélectionnez au moins une option."
MSG_TEXT = "Texte attendu."
MSG_NUMBER = "Nombre invalide."
MSG_BOOLEAN = "Valeur booléenne attendue (coché ou non coché)."
MSG_LIST = "Liste de valeurs attendue."
MSG_SINGLE = "Une seule valeur est attendue."
MSG_OPTIONS_MISSING = "Aucune liste de choix n'est disponible pour ce champ."
MSG_DATE = "Date invalide. Format attendu : AAAA-MM-JJ."
MSG_TIME = "Heure invalide. Format attendu : HH:MM."
MSG_DATETIME = "Date et heure invalides. Format attendu : AAAA-MM-JJTHH:MM."
MSG_PAST_DATE = "La date ne peut pas être antérieure à aujourd'hui."
MSG_EMAIL = "Adresse électronique invalide."
MSG_PHONE = "Numéro de téléphone invalide (ex. : 01 23 45 67 89 ou +33 1 23 45 67 89)."
MSG_INTEGER = "La valeur doit être un nombre entier."
MSG_LIST_ITEMS = "Liste d'éléments attendue."
MSG_LIST_ITEM = "Élément invalide."
MSG_REQUIRED_FILE = "Joignez un fichier."
MSG_SINGLE_FILE = "Un seul fichier est attendu."


def _fr_number(value: Any) -> str:
    """Numbers as a French reader expects them in a message: decimal comma, no exponent."""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f") if value == value else str(value)
    else:
        text = str(value)
    return text.replace(".", ",")
