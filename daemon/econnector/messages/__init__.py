"""The texts people read, in French, German and English, keyed by stable codes.

The error catalog (message and hint for each code) is one module per language:
:mod:`.en` (the catalog's own language, from which
:data:`econnector.errors.CATALOG` is built), :mod:`.fr` and :mod:`.de`, for the
person at the front desk of a practice in Luxembourg. Parameter names are the
same in every language. :mod:`.phrases` translates the fixed English phrases
raisers pass as parameters; :mod:`.status_command` holds what ``econnector
status`` prints. tests/contract/test_i18n.py checks that every code has all
three languages and that no English is left in the translations.

Pure data and small pure functions; it imports nothing of econnector but
:mod:`econnector.codes`, so :mod:`econnector.errors` can use it.
"""

from __future__ import annotations

from typing import Final

from ..codes import Code
from . import de, fr
from .phrases import PHRASES, localize_params, phrase
from .status_command import CLI_REASONS, CLI_STATE_NAMES, CLI_TEXTS

__all__ = [
    "CLI_REASONS", "CLI_STATE_NAMES", "CLI_TEXTS", "LANGUAGES", "PHRASES", "STATE_TEXTS",
    "TEXTS", "localize_params", "phrase", "template",
]

LANGUAGES: Final = ("fr", "de", "en")

# language -> code -> (message, hint); English is errors.CATALOG (built from en.py).
TEXTS: Final[dict[str, dict[Code, tuple[str, str]]]] = {"fr": fr.TEXTS, "de": de.TEXTS}

# The status file's message for states that have no reason code.
STATE_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "received": "Received; being checked and signed.",
        "signed": "Signed; being sent to the patient's vault.",
        "delivering": "Being sent to the patient's vault.",
        "delivered": "Placed in the patient's vault; see the receipt.",
        "rejected": "Refused; see the error file.",
    },
    "fr": {
        "received": "Reçu ; vérification et signature en cours.",
        "signed": "Signé ; envoi au coffre-fort du patient en cours.",
        "delivering": "Envoi au coffre-fort du patient en cours.",
        "delivered": "Remis au coffre-fort du patient ; voir l'accusé de dépôt.",
        "rejected": "Refusé ; voir le fichier d'erreur.",
    },
    "de": {
        "received": "Empfangen; wird geprüft und signiert.",
        "signed": "Signiert; wird an den Patientensafe gesendet.",
        "delivering": "Wird an den Patientensafe gesendet.",
        "delivered": "Im Patientensafe hinterlegt; siehe Zustellbestätigung.",
        "rejected": "Abgelehnt; siehe Fehlerdatei.",
    },
}


def template(code: Code, language: str) -> tuple[str, str] | None:
    """The French or German (message, hint) of ``code``; None for English or a gap
    (the caller then uses the English catalog)."""
    return TEXTS.get(language, {}).get(code)
