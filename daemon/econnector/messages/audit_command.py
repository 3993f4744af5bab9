"""What ``econnector audit`` prints, in English, French and German.

IT and the practice's manager read these: ``verify`` says in one line whether the trail
is intact, or which entry was touched and how; ``show`` names each entry's kind in words.
Entry numbers, codes, hashes and document numbers stay as they are. The language is
chosen as ``econnector status`` chooses it (``--lang``, else the config's
``receipts.default_language``).
"""

from __future__ import annotations

from typing import Final

AUDIT_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "intact": "Audit trail intact: {entries} entries, {anchors} timestamps by the "
        "timestamp service, the last on {anchored}.",
        "intact-unanchored": "Audit trail intact: {entries} entries, not timestamped by a "
        "timestamp service yet.",
        "edited": "Audit trail damaged: entry {seq} was changed after it was written. Keep "
        "a copy of {path} and tell IT.",
        "deleted": "Audit trail damaged: entry {seq} was deleted. Keep a copy of {path} and "
        "tell IT.",
        "inserted": "Audit trail damaged: entry {seq} was added afterwards. Keep a copy of "
        "{path} and tell IT.",
        "reordered": "Audit trail damaged: entry {seq} was moved out of its place. Keep a "
        "copy of {path} and tell IT.",
        "anchor-mismatch": "Audit trail damaged: entry {seq}, or one before it, is not what "
        "the timestamp service signed: the trail was rewritten. Keep a copy of {path} and "
        "tell IT.",
        "anchor-invalid": "Audit trail damaged: the timestamp of entry {seq} is not valid. "
        "Keep a copy of {path} and tell IT.",
        "no-trail": "No audit trail at {path} yet: has econnector run?",
        "show-none": "No audit entry for document {document}.",
        "show-head": "Document {document}: {count} entries",
        "exported": "{count} audit entries from {start} to {end} written to {path} "
        "(patients' numbers masked).",
        "bad-dates": "--from and --to take dates as YYYY-MM-DD, and --from is not after "
        "--to.",
    },
    "fr": {
        "intact": "Journal d'audit intact : {entries} entrées, {anchors} horodatages par le "
        "service d'horodatage, le dernier le {anchored}.",
        "intact-unanchored": "Journal d'audit intact : {entries} entrées, pas encore "
        "horodatées par un service d'horodatage.",
        "edited": "Journal d'audit endommagé : l'entrée {seq} a été modifiée après coup. "
        "Gardez une copie de {path} et prévenez l'informaticien.",
        "deleted": "Journal d'audit endommagé : l'entrée {seq} a été supprimée. Gardez une "
        "copie de {path} et prévenez l'informaticien.",
        "inserted": "Journal d'audit endommagé : l'entrée {seq} a été ajoutée après coup. "
        "Gardez une copie de {path} et prévenez l'informaticien.",
        "reordered": "Journal d'audit endommagé : l'entrée {seq} a été déplacée. Gardez une "
        "copie de {path} et prévenez l'informaticien.",
        "anchor-mismatch": "Journal d'audit endommagé : l'entrée {seq}, ou une entrée "
        "antérieure, ne correspond plus à ce que le service d'horodatage a signé : le "
        "journal a été réécrit. Gardez une copie de {path} et prévenez l'informaticien.",
        "anchor-invalid": "Journal d'audit endommagé : l'horodatage de l'entrée {seq} n'est "
        "pas valable. Gardez une copie de {path} et prévenez l'informaticien.",
        "no-trail": "Pas encore de journal d'audit dans {path} : econnector a-t-il déjà "
        "tourné ?",
        "show-none": "Aucune entrée d'audit pour le document {document}.",
        "show-head": "Document {document} : {count} entrées",
        "exported": "{count} entrées d'audit du {start} au {end} écrites dans {path} "
        "(numéros des patients masqués).",
        "bad-dates": "--from et --to attendent des dates AAAA-MM-JJ, et --from ne vient pas "
        "après --to.",
    },
    "de": {
        "intact": "Prüfprotokoll unversehrt: {entries} Einträge, {anchors} Zeitstempel vom "
        "Zeitstempeldienst, der letzte am {anchored}.",
        "intact-unanchored": "Prüfprotokoll unversehrt: {entries} Einträge, noch ohne "
        "Zeitstempel eines Zeitstempeldienstes.",
        "edited": "Prüfprotokoll beschädigt: Eintrag {seq} wurde nachträglich geändert. "
        "Bewahren Sie eine Kopie von {path} auf und verständigen Sie die IT.",
        "deleted": "Prüfprotokoll beschädigt: Eintrag {seq} wurde gelöscht. Bewahren Sie "
        "eine Kopie von {path} auf und verständigen Sie die IT.",
        "inserted": "Prüfprotokoll beschädigt: Eintrag {seq} wurde nachträglich eingefügt. "
        "Bewahren Sie eine Kopie von {path} auf und verständigen Sie die IT.",
        "reordered": "Prüfprotokoll beschädigt: Eintrag {seq} wurde verschoben. Bewahren "
        "Sie eine Kopie von {path} auf und verständigen Sie die IT.",
        "anchor-mismatch": "Prüfprotokoll beschädigt: Eintrag {seq} oder ein früherer "
        "entspricht nicht mehr dem, was der Zeitstempeldienst signiert hat: das Protokoll "
        "wurde neu geschrieben. Bewahren Sie eine Kopie von {path} auf und verständigen Sie "
        "die IT.",
        "anchor-invalid": "Prüfprotokoll beschädigt: der Zeitstempel von Eintrag {seq} ist "
        "ungültig. Bewahren Sie eine Kopie von {path} auf und verständigen Sie die IT.",
        "no-trail": "Noch kein Prüfprotokoll unter {path}: lief econnector schon?",
        "show-none": "Kein Prüfeintrag für das Dokument {document}.",
        "show-head": "Dokument {document}: {count} Einträge",
        "exported": "{count} Prüfeinträge vom {start} bis {end} in {path} geschrieben "
        "(Nummern der Patienten maskiert).",
        "bad-dates": "--from und --to erwarten Daten als JJJJ-MM-TT, und --from liegt nicht "
        "nach --to.",
    },
}

# The entries' kinds (audit.py) in words, for ``audit show``.
KIND_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "claimed": "taken from the outbox", "received": "received",
        "state-changed": "state changed", "signed": "signed", "delivered": "delivered",
        "rejected": "rejected", "held": "held", "released": "released",
        "patient-opted-out": "not sent (patient opted out)", "unlocked": "unlocked",
        "locked": "locked", "assistant-added": "assistant added",
        "assistant-revoked": "assistant revoked", "config-loaded": "configuration loaded",
        "anchor": "timestamped",
    },
    "fr": {
        "claimed": "pris dans la boîte d'envoi", "received": "reçu",
        "state-changed": "changement d'état", "signed": "signé", "delivered": "livré",
        "rejected": "refusé", "held": "en attente", "released": "repris",
        "patient-opted-out": "non envoyé (le patient a refusé)", "unlocked": "déverrouillé",
        "locked": "verrouillé", "assistant-added": "assistant ajouté",
        "assistant-revoked": "assistant révoqué", "config-loaded": "configuration chargée",
        "anchor": "horodaté",
    },
    "de": {
        "claimed": "aus dem Postausgang übernommen", "received": "empfangen",
        "state-changed": "Statuswechsel", "signed": "signiert", "delivered": "zugestellt",
        "rejected": "abgelehnt", "held": "angehalten", "released": "freigegeben",
        "patient-opted-out": "nicht gesendet (Widerspruch des Patienten)",
        "unlocked": "entsperrt", "locked": "gesperrt", "assistant-added": "Assistenz "
        "hinzugefügt", "assistant-revoked": "Assistenz widerrufen",
        "config-loaded": "Konfiguration geladen", "anchor": "mit Zeitstempel versehen",
    },
}
