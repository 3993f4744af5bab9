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
