"""The heartbeat's ``message`` (``inbox/_econnector.json``), in English, French and German.

The practice software shows one of these at the front desk as it is: a green light
("econnector is running") or the reasons for a red one, each with what happens to the
documents and who acts. Provider codes and commands stay as they are; never a
patient's data. Keys are the heartbeat's reasons (:mod:`econnector.heartbeat`), but for
identities: one text for those the doctor can fix, one for those IT must.
"""

from __future__ import annotations

from typing import Final

HEARTBEAT_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "ok": "econnector is running.",
        "stopped": "econnector is stopped: documents wait until it is started again.",
        "stale": "econnector does not answer: documents wait. Tell IT.",
        "watcher-down": "econnector sees new documents late (the folder watch is down); "
        "they are still signed and sent. Tell IT.",
        "vault-unavailable": "The patients' vault cannot be reached: documents are sent "
        "as soon as it answers again.",
        "vault-unauthorized": "The vault refuses econnector's access: documents wait. "
        "Tell IT.",
        "vault-tls": "The vault's identity could not be verified: documents wait. Tell IT.",
        "identity-doctor": "Signing waits for the doctor ({providers}): connect the signing "
        "card, or unlock it with econnector unlock.",
        "identity-it": "The signing key of {providers} cannot sign: their documents wait. "
        "Tell IT.",
        "storage-paused": "econnector cannot write its files (disk full or a folder not "
        "usable): documents wait. Tell IT.",
        "outbox-missing": "The outbox folder cannot be reached: new documents are not "
        "seen. Tell IT.",
        "inbox-missing": "The inbox folder cannot be reached: documents wait. Tell IT.",
    },
    "fr": {
        "ok": "econnector fonctionne.",
        "stopped": "econnector est arrêté : les documents attendent son redémarrage.",
        "stale": "econnector ne répond pas : les documents attendent. Prévenez le service "
        "informatique.",
        "watcher-down": "econnector voit les nouveaux documents avec retard (la "
        "surveillance du dossier est interrompue) ; ils sont quand même signés et envoyés. "
        "Prévenez le service informatique.",
        "vault-unavailable": "Le coffre-fort des patients est injoignable : les documents "
        "partent dès qu'il répond de nouveau.",
        "vault-unauthorized": "Le coffre-fort refuse l'accès d'econnector : les documents "
        "attendent. Prévenez le service informatique.",
        "vault-tls": "L'identité du coffre-fort n'a pas pu être vérifiée : les documents "
        "attendent. Prévenez le service informatique.",
        "identity-doctor": "La signature attend le médecin ({providers}) : branchez la "
        "carte de signature, ou déverrouillez-la avec econnector unlock.",
        "identity-it": "La clé de signature de {providers} ne peut pas signer : ses "
        "documents attendent. Prévenez le service informatique.",
        "storage-paused": "econnector ne peut pas écrire ses fichiers (disque plein ou "
        "dossier inutilisable) : les documents attendent. Prévenez le service informatique.",
        "outbox-missing": "Le dossier outbox est inaccessible : les nouveaux documents ne "
        "sont pas vus. Prévenez le service informatique.",
        "inbox-missing": "Le dossier inbox est inaccessible : les documents attendent. "
        "Prévenez le service informatique.",
    },
    "de": {
        "ok": "econnector läuft.",
        "stopped": "econnector ist angehalten: Die Dokumente warten, bis er wieder "
        "gestartet wird.",
        "stale": "econnector antwortet nicht: Die Dokumente warten. Informieren Sie die IT.",
        "watcher-down": "econnector sieht neue Dokumente verspätet (die Ordnerüberwachung "
        "ist ausgefallen); sie werden trotzdem signiert und gesendet. Informieren Sie "
        "die IT.",
        "vault-unavailable": "Der Patientensafe ist nicht erreichbar: Die Dokumente werden "
        "gesendet, sobald er wieder antwortet.",
        "vault-unauthorized": "Der Safe verweigert econnector den Zugang: Die Dokumente "
        "warten. Informieren Sie die IT.",
        "vault-tls": "Die Identität des Safes konnte nicht überprüft werden: Die Dokumente "
        "warten. Informieren Sie die IT.",
        "identity-doctor": "Die Signatur wartet auf den Arzt ({providers}): Schließen Sie "
        "die Signaturkarte an oder entsperren Sie sie mit econnector unlock.",
        "identity-it": "Der Signaturschlüssel von {providers} kann nicht signieren: Seine "
        "Dokumente warten. Informieren Sie die IT.",
        "storage-paused": "econnector kann seine Dateien nicht schreiben (Festplatte voll "
        "oder Ordner unbrauchbar): Die Dokumente warten. Informieren Sie die IT.",
        "outbox-missing": "Der Ordner outbox ist nicht erreichbar: Neue Dokumente werden "
        "nicht gesehen. Informieren Sie die IT.",
        "inbox-missing": "Der Ordner inbox ist nicht erreichbar: Die Dokumente warten. "
        "Informieren Sie die IT.",
    },
}
