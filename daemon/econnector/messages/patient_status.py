"""What a patient's digital status means, for staff, in French, German and English.

Used by the answer files of ``patient-status`` queries, the receipts and
``econnector patient-status``. The status words themselves (green, blue, red) stay
as the vault says them: vendors match on them.
"""

from __future__ import annotations

from typing import Final

STATUS_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "green": "green: the patient uses the digital vault and its app; documents are "
        "sent to the vault.",
        "blue": "blue: the patient uses the digital vault without the app; documents are "
        "sent to the vault.",
        "red": "red: the patient chose not to use the digital vault; documents are signed "
        "but not sent: print the signed copy and hand it to the patient.",
        "label": "Patient's digital status",
        "checked_at": "Checked with the vault at",
        "title": "Patient's digital status",
        "patient": "Patient (masked matricule)",
        "answer": "Answer",
    },
    "fr": {
        "green": "vert : le patient utilise le coffre-fort numérique et son application ; "
        "les documents sont envoyés au coffre-fort.",
        "blue": "bleu : le patient utilise le coffre-fort numérique sans l'application ; "
        "les documents sont envoyés au coffre-fort.",
        "red": "rouge : le patient a choisi de ne pas utiliser le coffre-fort numérique ; "
        "les documents sont signés mais pas envoyés : imprimez la copie signée et "
        "remettez-la au patient.",
        "label": "Statut numérique du patient",
        "checked_at": "Vérifié auprès du coffre-fort le",
        "title": "Statut numérique du patient",
        "patient": "Patient (matricule masqué)",
        "answer": "Réponse",
    },
    "de": {
        "green": "grün: Der Patient nutzt den digitalen Tresor und seine App; Dokumente "
        "werden an den Tresor gesendet.",
        "blue": "blau: Der Patient nutzt den digitalen Tresor ohne App; Dokumente werden "
        "an den Tresor gesendet.",
        "red": "rot: Der Patient hat sich gegen den digitalen Tresor entschieden; Dokumente "
        "werden signiert, aber nicht gesendet: Drucken Sie die signierte Kopie aus und "
        "geben Sie sie dem Patienten.",
        "label": "Digitaler Status des Patienten",
        "checked_at": "Beim Tresor geprüft am",
        "title": "Digitaler Status des Patienten",
        "patient": "Patient (Matrikel maskiert)",
        "answer": "Antwort",
    },
}


def meaning(status: str, language: str) -> str:
    texts = STATUS_TEXTS.get(language, STATUS_TEXTS["en"])
    return texts.get(status, status)


def meanings(status: str) -> dict[str, str]:
    """The status's meaning in each language (answer files carry all three)."""
    return {lang: texts[status] for lang, texts in STATUS_TEXTS.items() if status in texts}


# What the answer and waiting files of a ``patient-status`` query say beyond
# STATUS_TEXTS, and the query parser's own details (``query-syntax``'s {detail}).
QUERY_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "source": "Source",
        "from-cache": "the vault's answer kept by econnector (at most patients.status_ttl_s "
        "old)",
        "asked-now": "asked of the vault just now",
        "answered_at": "Answered at",
        "waiting-title": "Patient's digital status - waiting for the vault",
        "waiting": "econnector asks the vault again by itself; this file is replaced by "
        "the answer. Nothing to do.",
        "next_try_at": "Next try",
        "not-mapping": "the file is empty or does not list the question's details",
        "encoding": "it is not text saved as UTF-8",
    },
    "fr": {
        "source": "Source",
        "from-cache": "réponse du coffre-fort conservée par econnector (au plus "
        "patients.status_ttl_s)",
        "asked-now": "demandé au coffre-fort à l'instant",
        "answered_at": "Répondu le",
        "waiting-title": "Statut numérique du patient - en attente du coffre-fort",
        "waiting": "econnector redemande au coffre-fort de lui-même ; ce fichier sera "
        "remplacé par la réponse. Rien à faire.",
        "next_try_at": "Prochain essai",
        "not-mapping": "le fichier est vide ou ne contient pas les détails de la question",
        "encoding": "ce n'est pas un texte enregistré en UTF-8",
    },
    "de": {
        "source": "Quelle",
        "from-cache": "von econnector aufbewahrte Antwort des Tresors (höchstens "
        "patients.status_ttl_s alt)",
        "asked-now": "soeben beim Tresor erfragt",
        "answered_at": "Beantwortet am",
        "waiting-title": "Digitaler Status des Patienten - Warten auf den Tresor",
        "waiting": "econnector fragt den Tresor selbst erneut; diese Datei wird durch die "
        "Antwort ersetzt. Nichts zu tun.",
        "next_try_at": "Nächster Versuch",
        "not-mapping": "die Datei ist leer oder enthält keine Angaben zur Frage",
        "encoding": "es ist kein als UTF-8 gespeicherter Text",
    },
}

# What ``econnector patient-status`` prints.
COMMAND_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "status": "Patient {masked}: {meaning}",
        "checked": "Checked with the vault at {when} ({source}).",
        "bad-matricule": "{message} Check the number (13 digits, no spaces) and try again.",
        "unreachable": "{message} The patient's status cannot be checked now: try again in "
        "a few minutes; if this lasts, tell IT.",
        "refused": "{message} The patient's status cannot be checked: tell IT.",
    },
    "fr": {
        "status": "Patient {masked} : {meaning}",
        "checked": "Vérifié auprès du coffre-fort le {when} ({source}).",
        "bad-matricule": "{message} Vérifiez le numéro (13 chiffres, sans espaces) et "
        "réessayez.",
        "unreachable": "{message} Le statut du patient ne peut pas être vérifié maintenant : "
        "réessayez dans quelques minutes ; si cela dure, prévenez l'informatique.",
        "refused": "{message} Le statut du patient ne peut pas être vérifié : prévenez "
        "l'informatique.",
    },
    "de": {
        "status": "Patient {masked}: {meaning}",
        "checked": "Beim Tresor geprüft am {when} ({source}).",
        "bad-matricule": "{message} Prüfen Sie die Nummer (13 Ziffern, ohne Leerzeichen) "
        "und versuchen Sie es erneut.",
        "unreachable": "{message} Der Status des Patienten kann gerade nicht geprüft werden: "
        "versuchen Sie es in einigen Minuten erneut; wenn es anhält, informieren Sie die IT.",
        "refused": "{message} Der Status des Patienten kann nicht geprüft werden: "
        "informieren Sie die IT.",
    },
}


def query_text(key: str, language: str) -> str:
    """One of :data:`QUERY_TEXTS` in ``language`` (English for any other)."""
    return QUERY_TEXTS.get(language, QUERY_TEXTS["en"])[key]


def command_text(key: str, language: str, **params: object) -> str:
    """One of :data:`COMMAND_TEXTS` in ``language``, filled in."""
    return COMMAND_TEXTS.get(language, COMMAND_TEXTS["en"])[key].format(**params)
