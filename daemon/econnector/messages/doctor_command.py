"""What ``econnector doctor`` prints, in English, French and German.

IT reads one line per check: ``ok``, ``WARN`` or ``FAIL`` (the same in every language,
for scripts), the check's name, then what was found and, when it is not ok, what to do.
Paths, config keys, numbers and tool names stay as they are. The lines ``check-config``
itself writes (``detail``) are in English, as ``check-config`` prints them. The language
is chosen as ``econnector status`` chooses it (``--lang``, else the config's
``receipts.default_language``).
"""

from __future__ import annotations

from typing import Final

DOCTOR_NAMES: Final[dict[str, dict[str, str]]] = {
    "en": {
        "config": "config", "identity": "identity", "certificate": "certificate",
        "signing": "signing", "vault": "vault", "secrets": "secret file",
        "daemon": "daemon", "heartbeat": "heartbeat", "clock": "clock", "disk": "disk",
        "filesystems": "file systems", "inotify": "inotify",
    },
    "fr": {
        "config": "configuration", "identity": "identité", "certificate": "certificat",
        "signing": "signature", "vault": "coffre-fort", "secrets": "fichier secret",
        "daemon": "service", "heartbeat": "signal de vie", "clock": "horloge",
        "disk": "disque", "filesystems": "systèmes de fichiers", "inotify": "inotify",
    },
    "de": {
        "config": "Konfiguration", "identity": "Identität", "certificate": "Zertifikat",
        "signing": "Signatur", "vault": "Safe", "secrets": "Geheimnisdatei",
        "daemon": "Dienst", "heartbeat": "Lebenszeichen", "clock": "Uhr",
        "disk": "Speicherplatz", "filesystems": "Dateisysteme", "inotify": "inotify",
    },
}

DOCTOR_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "detail": "{detail}",
        "config-unloadable": "the configuration cannot be used: {detail}",
        "config-ok": "{path}: loaded; folders, keys and log file usable",
        "cert-days": "{who}: valid for {days} more days (until {until})",
        "cert-soon": "{who}: expires in {days} days ({until}); order the "
        "renewal now",
        "cert-expired": "{who}: expired on {until}; this doctor's documents "
        "wait unsigned until the renewed certificate is installed",
        "vault-ok": "{url} answers: TLS verified, token accepted",
        "vault-local": "embedded vault (kind local)",
        "vault-offline": "{url} not contacted (--offline)",
        "secret-ok": "{what} {path}: mode {mode}",
        "secret-exposed": "{what} {path}: mode {mode}, others may read or change it; the "
        "daemon refuses to start: chmod 600 (or 640 with the service's group)",
        "secrets-none": "no secret kept in a file (variables or credentials)",
        "secrets-skipped": "modes not checked on this system",
        "daemon-running": "running (pid {pid}, started {since})",
        "daemon-not-running": "not running (nothing holds {lock}); documents wait until "
        "the service is started",
        "heartbeat-ok": "written {age} s ago (every {interval} s), the folder watch is "
        "healthy",
        "heartbeat-stale": "{path} last written {age} s ago, expected every {interval} s: "
        "the daemon is stuck; restart the service and read its log",
        "heartbeat-missing": "the daemon runs but writes no {path}; restart the service "
        "and read its log",
        "heartbeat-bad": "{path} is not a heartbeat econnector can read; restart the "
        "service and read its log",
        "heartbeat-watcher": "written {age} s ago, but the folder watch is down: new "
        "documents are seen late; read the daemon's log",
        "heartbeat-not-ok": "written {age} s ago, but the daemon reports a problem; run "
        "econnector status",
        "heartbeat-vault": "written {age} s ago; the daemon cannot reach the vault "
        "(state {state}): documents wait",
        "heartbeat-skipped": "not checked: the daemon is not running",
        "heartbeat-disabled": "not checked: heartbeat.enabled is false",
        "clock-synced": "synchronised ({tool})",
        "clock-not-synced": "NOT synchronised ({tool}); turn on time synchronisation (NTP)",
        "clock-unknown": "cannot tell whether it is synchronised (no timedatectl or "
        "chronyc answer)",
        "skew-ok": "{skew} s from the vault",
        "skew-warn": "{skew} s from the vault (more than 60 s): signing times and receipts "
        "are off; fix the time synchronisation",
        "skew-fail": "{skew} s from the vault (more than 300 s): signing times and "
        "receipts are wrong; fix the time synchronisation",
        "skew-skipped": "not compared with the vault (embedded vault)",
        "skew-offline": "not compared with the vault (--offline)",
        "skew-unknown": "not compared with the vault (no answer with a date)",
        "disk-ok": "{folder} {path}: {free} free ({percent} %)",
        "disk-low": "{folder} {path}: only {free} free ({percent} %); free some space "
        "before it runs out",
        "disk-full": "{folder} {path}: only {free} free ({percent} %); econnector pauses "
        "when the disk is full: free space now",
        "fs-same": "the folders econnector moves files between are on one file system "
        "(atomic renames)",
        "fs-split": "{a} and {b} are on different file systems: the {what} are copied "
        "then deleted, not renamed atomically (slower, and a crash in between leaves the "
        "file in both); put them on one file system",
        "inotify-ok": "max_user_watches {watches}, max_user_instances {instances}",
        "inotify-low": "low limits: max_user_watches {watches} (want 8192 or more), "
        "max_user_instances {instances} (want 16 or more); new files may be seen only at "
        "the next rescan: raise them with sysctl",
        "inotify-unknown": "limits not readable in {path}",
        "inotify-skipped": "not checked (not Linux)",
    },
    "fr": {
        "detail": "{detail}",
        "config-unloadable": "la configuration est inutilisable : {detail}",
        "config-ok": "{path} : chargée ; dossiers, clés et fichier journal utilisables",
        "cert-days": "{who} : valable encore {days} jours (jusqu'au {until})",
        "cert-soon": "{who} : expire dans {days} jours ({until}) ; commandez "
        "le renouvellement maintenant",
        "cert-expired": "{who} : a expiré le {until} ; les documents de ce "
        "médecin attendent, non signés, jusqu'à l'installation du certificat renouvelé",
        "vault-ok": "{url} répond : TLS vérifié, jeton accepté",
        "vault-local": "coffre-fort intégré (kind local)",
        "vault-offline": "{url} non contacté (--offline)",
        "secret-ok": "{what} {path} : mode {mode}",
        "secret-exposed": "{what} {path} : mode {mode}, d'autres peuvent le lire ou le "
        "modifier ; le service refuse de démarrer : chmod 600 (ou 640 avec le groupe du "
        "service)",
        "secrets-none": "aucun secret gardé dans un fichier (variables ou credentials)",
        "secrets-skipped": "modes non vérifiés sur ce système",
        "daemon-running": "en marche (pid {pid}, démarré {since})",
        "daemon-not-running": "arrêté (rien ne tient {lock}) ; les documents attendent le "
        "démarrage du service",
        "heartbeat-ok": "écrit il y a {age} s (toutes les {interval} s), la surveillance "
        "du dossier fonctionne",
        "heartbeat-stale": "{path} écrit pour la dernière fois il y a {age} s, attendu "
        "toutes les {interval} s : le service est bloqué ; redémarrez-le et lisez son "
        "journal",
        "heartbeat-missing": "le service tourne mais n'écrit pas {path} ; redémarrez-le et "
        "lisez son journal",
        "heartbeat-bad": "{path} n'est pas un signal de vie lisible par econnector ; "
        "redémarrez le service et lisez son journal",
        "heartbeat-watcher": "écrit il y a {age} s, mais la surveillance du dossier est "
        "arrêtée : les nouveaux documents sont vus en retard ; lisez le journal du service",
        "heartbeat-not-ok": "écrit il y a {age} s, mais le service signale un problème ; "
        "lancez econnector status",
        "heartbeat-vault": "écrit il y a {age} s ; le service n'atteint pas le coffre-fort "
        "(état {state}) : les documents attendent",
        "heartbeat-skipped": "non vérifié : le service est arrêté",
        "heartbeat-disabled": "non vérifié : heartbeat.enabled vaut false",
        "clock-synced": "synchronisée ({tool})",
        "clock-not-synced": "NON synchronisée ({tool}) ; activez la synchronisation de "
        "l'heure (NTP)",
        "clock-unknown": "impossible de savoir si elle est synchronisée (ni timedatectl ni "
        "chronyc ne répond)",
        "skew-ok": "à {skew} s du coffre-fort",
        "skew-warn": "à {skew} s du coffre-fort (plus de 60 s) : les heures de signature et "
        "les accusés sont décalés ; corrigez la synchronisation de l'heure",
        "skew-fail": "à {skew} s du coffre-fort (plus de 300 s) : les heures de signature "
        "et les accusés sont faux ; corrigez la synchronisation de l'heure",
        "skew-skipped": "pas comparée avec le coffre-fort (coffre-fort intégré)",
        "skew-offline": "pas comparée avec le coffre-fort (--offline)",
        "skew-unknown": "pas comparée avec le coffre-fort (pas de réponse datée)",
        "disk-ok": "{folder} {path} : {free} libres ({percent} %)",
        "disk-low": "{folder} {path} : seulement {free} libres ({percent} %) ; libérez de "
        "la place avant qu'il n'en manque",
        "disk-full": "{folder} {path} : seulement {free} libres ({percent} %) ; econnector "
        "se met en pause quand le disque est plein : libérez de la place maintenant",
        "fs-same": "les dossiers entre lesquels econnector déplace des fichiers sont sur "
        "un seul système de fichiers (renommages atomiques)",
        "fs-split": "{a} et {b} sont sur des systèmes de fichiers différents : les {what} "
        "sont copiés puis effacés, pas renommés de façon atomique (plus lent, et une panne "
        "entre les deux laisse le fichier des deux côtés) ; mettez-les sur un seul système "
        "de fichiers",
        "inotify-ok": "max_user_watches {watches}, max_user_instances {instances}",
        "inotify-low": "limites basses : max_user_watches {watches} (8192 ou plus "
        "souhaité), max_user_instances {instances} (16 ou plus souhaité) ; les nouveaux "
        "fichiers risquent de n'être vus qu'au prochain parcours : relevez-les avec sysctl",
        "inotify-unknown": "limites illisibles dans {path}",
        "inotify-skipped": "non vérifié (pas Linux)",
    },
    "de": {
        "detail": "{detail}",
        "config-unloadable": "die Konfiguration ist nicht verwendbar: {detail}",
        "config-ok": "{path}: geladen; Ordner, Schlüssel und Logdatei verwendbar",
        "cert-days": "{who}: noch {days} Tage gültig (bis {until})",
        "cert-soon": "{who}: läuft in {days} Tagen ab ({until}); bestellen "
        "Sie jetzt die Erneuerung",
        "cert-expired": "{who}: am {until} abgelaufen; die Dokumente "
        "dieses Arztes warten unsigniert, bis das erneuerte Zertifikat installiert ist",
        "vault-ok": "{url} antwortet: TLS geprüft, Token akzeptiert",
        "vault-local": "eingebauter Safe (kind local)",
        "vault-offline": "{url} nicht kontaktiert (--offline)",
        "secret-ok": "{what} {path}: Modus {mode}",
        "secret-exposed": "{what} {path}: Modus {mode}, andere können sie lesen oder "
        "ändern; der Dienst startet nicht: chmod 600 (oder 640 mit der Gruppe des Dienstes)",
        "secrets-none": "kein Geheimnis in einer Datei (Variablen oder Credentials)",
        "secrets-skipped": "Modi auf diesem System nicht geprüft",
        "daemon-running": "läuft (pid {pid}, gestartet {since})",
        "daemon-not-running": "läuft nicht ({lock} ist frei); die Dokumente warten, bis "
        "der Dienst gestartet wird",
        "heartbeat-ok": "vor {age} s geschrieben (alle {interval} s), die "
        "Ordnerüberwachung funktioniert",
        "heartbeat-stale": "{path} zuletzt vor {age} s geschrieben, erwartet alle "
        "{interval} s: der Dienst hängt; starten Sie ihn neu und lesen Sie sein Log",
        "heartbeat-missing": "der Dienst läuft, schreibt aber kein {path}; starten Sie ihn "
        "neu und lesen Sie sein Log",
        "heartbeat-bad": "{path} ist kein für econnector lesbares Lebenszeichen; starten "
        "Sie den Dienst neu und lesen Sie sein Log",
        "heartbeat-watcher": "vor {age} s geschrieben, aber die Ordnerüberwachung ist "
        "ausgefallen: neue Dokumente werden verspätet gesehen; lesen Sie das Log des Dienstes",
        "heartbeat-not-ok": "vor {age} s geschrieben, aber der Dienst meldet ein Problem; "
        "führen Sie econnector status aus",
        "heartbeat-vault": "vor {age} s geschrieben; der Dienst erreicht den Safe nicht "
        "(Zustand {state}): die Dokumente warten",
        "heartbeat-skipped": "nicht geprüft: der Dienst läuft nicht",
        "heartbeat-disabled": "nicht geprüft: heartbeat.enabled ist false",
        "clock-synced": "synchronisiert ({tool})",
        "clock-not-synced": "NICHT synchronisiert ({tool}); schalten Sie die "
        "Zeitsynchronisation (NTP) ein",
        "clock-unknown": "nicht feststellbar, ob sie synchronisiert ist (weder timedatectl "
        "noch chronyc antwortet)",
        "skew-ok": "{skew} s vom Safe entfernt",
        "skew-warn": "{skew} s vom Safe entfernt (mehr als 60 s): Signaturzeiten und "
        "Bestätigungen weichen ab; korrigieren Sie die Zeitsynchronisation",
        "skew-fail": "{skew} s vom Safe entfernt (mehr als 300 s): Signaturzeiten und "
        "Bestätigungen sind falsch; korrigieren Sie die Zeitsynchronisation",
        "skew-skipped": "nicht mit dem Safe verglichen (eingebauter Safe)",
        "skew-offline": "nicht mit dem Safe verglichen (--offline)",
        "skew-unknown": "nicht mit dem Safe verglichen (keine Antwort mit Datum)",
        "disk-ok": "{folder} {path}: {free} frei ({percent} %)",
        "disk-low": "{folder} {path}: nur {free} frei ({percent} %); schaffen Sie Platz, "
        "bevor er ausgeht",
        "disk-full": "{folder} {path}: nur {free} frei ({percent} %); econnector pausiert "
        "bei voller Festplatte: schaffen Sie jetzt Platz",
        "fs-same": "die Ordner, zwischen denen econnector Dateien verschiebt, liegen auf "
        "einem Dateisystem (atomares Umbenennen)",
        "fs-split": "{a} und {b} liegen auf verschiedenen Dateisystemen: die {what} werden "
        "kopiert und dann gelöscht, nicht atomar umbenannt (langsamer, und ein Absturz "
        "dazwischen lässt die Datei an beiden Orten); legen Sie sie auf ein Dateisystem",
        "inotify-ok": "max_user_watches {watches}, max_user_instances {instances}",
        "inotify-low": "niedrige Grenzen: max_user_watches {watches} (8192 oder mehr "
        "empfohlen), max_user_instances {instances} (16 oder mehr empfohlen); neue Dateien "
        "werden womöglich erst beim nächsten Durchlauf gesehen: erhöhen Sie sie mit sysctl",
        "inotify-unknown": "Grenzen in {path} nicht lesbar",
        "inotify-skipped": "nicht geprüft (kein Linux)",
    },
}

# The moves named in "fs-split" ({what}), by doctor.RENAMES.
DOCTOR_MOVES: Final[dict[str, dict[str, str]]] = {
    "en": {"delivered originals": "delivered originals",
           "refused originals": "refused originals",
           "signed documents": "signed documents"},
    "fr": {"delivered originals": "originaux remis",
           "refused originals": "originaux refusés",
           "signed documents": "documents signés"},
    "de": {"delivered originals": "zugestellten Originale",
           "refused originals": "abgelehnten Originale",
           "signed documents": "signierten Dokumente"},
}
