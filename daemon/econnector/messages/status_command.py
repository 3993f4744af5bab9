"""What ``econnector status`` prints for people, in English, French and German."""

from __future__ import annotations

from typing import Final

# What ``econnector status`` prints for people (its --json form is the API and stays
# English). The lines about what blocks the daemon carry the catalog message of
# their code (rendered with the parameters of the health file); these are only the
# frames around them. Codes, file names, paths and document numbers are shown as
# they are, so support can match them.
CLI_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "running": "daemon: running (pid {pid})",
        "not-running": "daemon: not running",
        "storage-paused": "PAUSED: storage unusable ({reason}); documents are kept and "
        "resume by themselves",
        "paused": "PAUSED ({code}): {message} {hint}",
        "outage": "WAITING ({code}): {message} Next try: {when}. {hint}",
        "blocked": "LOCKED ({code}): {message} {hint}",
        "blocked-list": "signing identities locked: {providers}",
        "cert-valid": "certificate of {provider}: valid until {until} ({days} days left)",
        "cert-expiring": "WARNING: the certificate of {provider} expires on {until}, in "
        "{days} days: IT orders the renewal now (after that day the doctor's documents "
        "wait, unsigned)",
        "folder": "WAITING ({code}): {message} {hint}",
        "counts": "documents by state: {counts}",
        "opened": "opened by the patient: {count} of the delivered documents",
        "opened-mark": "opened {when}",
        "none-yet": "none yet",
        "waiting": "waiting or held:",
        "next-try": "; next try {when}",
        "latest": "latest:",
    },
    "fr": {
        "running": "econnector : en marche (processus {pid})",
        "not-running": "econnector : à l'arrêt, aucun document n'est traité ; prévenez le "
        "service informatique",
        "storage-paused": "EN PAUSE : impossible d'écrire dans les dossiers ({reason}) ; "
        "les documents sont conservés et reprennent d'eux-mêmes",
        "paused": "EN PAUSE ({code}) : {message} {hint}",
        "outage": "EN ATTENTE ({code}) : {message} Prochain essai : {when}. {hint}",
        "blocked": "BLOQUÉ ({code}) : {message} {hint}",
        "blocked-list": "identités de signature bloquées : {providers}",
        "cert-valid": "certificat de {provider} : valable jusqu'au {until} (encore {days} "
        "jours)",
        "cert-expiring": "ATTENTION : le certificat de {provider} expire le {until}, dans "
        "{days} jours : le service informatique commande son renouvellement maintenant "
        "(après cette date, les documents du médecin attendent sans être signés)",
        "folder": "EN ATTENTE ({code}) : {message} {hint}",
        "counts": "documents par état : {counts}",
        "opened": "ouverts par le patient : {count} des documents remis",
        "opened-mark": "ouvert le {when}",
        "none-yet": "aucun pour l'instant",
        "waiting": "en attente ou retenus :",
        "next-try": " ; prochain essai {when}",
        "latest": "derniers documents :",
    },
    "de": {
        "running": "econnector: läuft (Prozess {pid})",
        "not-running": "econnector: läuft nicht, es werden keine Dokumente verarbeitet; "
        "informieren Sie die IT",
        "storage-paused": "ANGEHALTEN: In die Ordner kann nicht geschrieben werden "
        "({reason}); die Dokumente bleiben erhalten und werden von selbst fortgesetzt",
        "paused": "ANGEHALTEN ({code}): {message} {hint}",
        "outage": "WARTET ({code}): {message} Nächster Versuch: {when}. {hint}",
        "blocked": "GESPERRT ({code}): {message} {hint}",
        "blocked-list": "gesperrte Signaturidentitäten: {providers}",
        "cert-valid": "Zertifikat von {provider}: gültig bis {until} (noch {days} Tage)",
        "cert-expiring": "WARNUNG: das Zertifikat von {provider} läuft am {until} ab, in "
        "{days} Tagen: die IT bestellt jetzt die Verlängerung (danach warten die Dokumente "
        "des Arztes unsigniert)",
        "folder": "WARTET ({code}): {message} {hint}",
        "counts": "Dokumente nach Status: {counts}",
        "opened": "vom Patienten geöffnet: {count} der zugestellten Dokumente",
        "opened-mark": "geöffnet am {when}",
        "none-yet": "noch keine",
        "waiting": "wartend oder zurückgehalten:",
        "next-try": "; nächster Versuch {when}",
        "latest": "neueste Dokumente:",
    },
}

# Document states as ``status`` names them, in the order a document goes through
# them. English keeps the state codes of the status files.
CLI_STATE_NAMES: Final[dict[str, dict[str, str]]] = {
    "en": {
        "received": "received", "signed": "signed", "delivering": "delivering",
        "waiting-retry": "waiting-retry", "held": "held", "delivered": "delivered",
        "patient-opted-out": "patient-opted-out", "rejected": "rejected",
        "taken-over": "taken over by another PC",
    },
    "fr": {
        "received": "reçu", "signed": "signé", "delivering": "en cours d'envoi",
        "waiting-retry": "nouvel essai prévu", "held": "retenu", "delivered": "remis",
        "patient-opted-out": "refus du patient", "rejected": "refusé",
        "taken-over": "repris par un autre poste",
    },
    "de": {
        "received": "empfangen", "signed": "signiert", "delivering": "wird gesendet",
        "waiting-retry": "neuer Versuch geplant", "held": "zurückgehalten",
        "delivered": "zugestellt", "patient-opted-out": "vom Patienten abgelehnt",
        "taken-over": "von einem anderen PC übernommen",
        "rejected": "abgelehnt",
    },
}

# Why a document waits or is held, in a few words, after its code in ``status``.
CLI_REASONS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "vault-unavailable": "the vault cannot be reached; econnector keeps trying",
        "vault-unauthorized": "the vault refuses econnector's access; tell IT",
        "vault-tls": "the vault's identity cannot be verified; tell IT",
        "file-busy": "another program is still using the file",
        "identity-locked": "the doctor's signing key is locked",
        "certificate-expired": "the doctor's certificate has expired",
        "certificate-not-yet-valid": "the doctor's certificate is not valid yet",
        "certificate-revoked": "the doctor's certificate has been revoked",
        "certificate-key-usage": "the configured certificate is not for signing; tell IT",
        "token-absent": "the doctor's card or signing stick is not connected",
        "tsa-unavailable": "the timestamp service cannot be reached; econnector keeps trying",
        "revocation-unavailable": "the certificate status service cannot be reached; "
        "econnector keeps trying",
        "signature-check-failed": "the signature failed econnector's check; tell IT",
        "signature-invalid": "the vault refused the signature; tell IT",
        "internal-error": "unexpected failure; tell IT",
    },
    "fr": {
        "vault-unavailable": "coffre-fort injoignable ; econnector réessaie",
        "vault-unauthorized": "le coffre-fort refuse l'accès ; prévenez le service "
        "informatique",
        "vault-tls": "identité du coffre-fort non vérifiable ; prévenez le service "
        "informatique",
        "file-busy": "un autre programme utilise encore le fichier",
        "identity-locked": "clé de signature du médecin verrouillée",
        "certificate-expired": "certificat du médecin expiré",
        "certificate-not-yet-valid": "certificat du médecin pas encore valable",
        "certificate-revoked": "certificat du médecin révoqué",
        "certificate-key-usage": "le certificat configuré n'est pas un certificat de "
        "signature ; prévenez le service informatique",
        "token-absent": "carte ou clé de signature du médecin non branchée",
        "tsa-unavailable": "service d'horodatage injoignable ; econnector réessaie",
        "revocation-unavailable": "service de statut des certificats injoignable ; "
        "econnector réessaie",
        "signature-check-failed": "la signature n'a pas passé le contrôle ; prévenez le "
        "service informatique",
        "signature-invalid": "le coffre-fort a refusé la signature ; prévenez le service "
        "informatique",
        "internal-error": "échec inattendu ; prévenez le service informatique",
    },
    "de": {
        "vault-unavailable": "Safe nicht erreichbar; econnector versucht es weiter",
        "vault-unauthorized": "der Safe verweigert den Zugang; informieren Sie die IT",
        "vault-tls": "Identität des Safes nicht überprüfbar; informieren Sie die IT",
        "file-busy": "ein anderes Programm verwendet die Datei noch",
        "identity-locked": "Signaturschlüssel des Arztes gesperrt",
        "certificate-expired": "Zertifikat des Arztes abgelaufen",
        "certificate-not-yet-valid": "Zertifikat des Arztes noch nicht gültig",
        "certificate-revoked": "Zertifikat des Arztes widerrufen",
        "certificate-key-usage": "das konfigurierte Zertifikat ist kein Signaturzertifikat; "
        "informieren Sie die IT",
        "token-absent": "Karte oder Signaturstick des Arztes nicht angeschlossen",
        "tsa-unavailable": "Zeitstempeldienst nicht erreichbar; econnector versucht es weiter",
        "revocation-unavailable": "Statusdienst für Zertifikate nicht erreichbar; econnector "
        "versucht es weiter",
        "signature-check-failed": "die Signatur hat die Prüfung nicht bestanden; informieren "
        "Sie die IT",
        "signature-invalid": "der Safe hat die Signatur abgelehnt; informieren Sie die IT",
        "internal-error": "unerwarteter Fehler; informieren Sie die IT",
    },
}
