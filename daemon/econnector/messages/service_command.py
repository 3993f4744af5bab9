"""What ``econnector service`` prints, in English, French and German.

IT reads these while installing econnector as a Windows service. Commands, paths,
account names and service names stay as they are. The language: ``--lang``, else the
config's ``receipts.default_language`` when the config loads, else English.
"""

from __future__ import annotations

from typing import Final

SERVICE_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "not-windows": "econnector service installs a Windows service. On Linux, econnector "
        "runs under systemd: use the unit in service/ (systemctl enable --now econnector), "
        "as docs/install-linux.md explains.",
        "no-pywin32": "The Windows service needs pywin32, which is not installed: "
        "py -m pip install pywin32, then run this command again (docs/install-windows.md).",
        "localsystem": "econnector does not run as LocalSystem (it would hold the doctors' "
        "keys with every right on this computer): give a dedicated account with --account, "
        "or leave --account out for the service's own account {default}.",
        "no-config": "No configuration at {config}: give it with -c, then check it with "
        "econnector check-config -c {config}.",
        "password": "Password of the account {account}: ",
        "installed": "Service {name} installed: account {account}, configuration {config}, "
        "starts with Windows. Start it now: econnector service start --name {name}",
        "removed": "Service {name} removed. Its folders and configuration are kept.",
        "started": "Service {name} started; the event log and the log file say how it runs.",
        "stopped": "Service {name} asked to stop: it finishes the documents in flight first.",
        "failed": "The Windows service manager refused ({action} {name}): {detail}",
    },
    "fr": {
        "not-windows": "econnector service installe un service Windows. Sous Linux, "
        "econnector fonctionne avec systemd : utilisez l'unité du dossier service/ "
        "(systemctl enable --now econnector), comme l'explique docs/install-linux.md.",
        "no-pywin32": "Le service Windows a besoin de pywin32, qui n'est pas installé : "
        "py -m pip install pywin32, puis relancez cette commande (docs/install-windows.md).",
        "localsystem": "econnector ne fonctionne pas sous LocalSystem (il détiendrait les "
        "clés des médecins avec tous les droits sur cet ordinateur) : indiquez un compte "
        "dédié avec --account, ou omettez --account pour le compte propre au service "
        "{default}.",
        "no-config": "Aucune configuration à {config} : indiquez-la avec -c, puis "
        "vérifiez-la avec econnector check-config -c {config}.",
        "password": "Mot de passe du compte {account} : ",
        "installed": "Service {name} installé : compte {account}, configuration {config}, "
        "démarre avec Windows. Démarrez-le maintenant : econnector service start --name "
        "{name}",
        "removed": "Service {name} supprimé. Ses dossiers et sa configuration sont conservés.",
        "started": "Service {name} démarré ; le journal des événements et le fichier "
        "journal indiquent son fonctionnement.",
        "stopped": "Arrêt du service {name} demandé : il termine d'abord les documents en "
        "cours.",
        "failed": "Le gestionnaire de services de Windows a refusé ({action} {name}) : "
        "{detail}",
    },
    "de": {
        "not-windows": "econnector service installiert einen Windows-Dienst. Unter Linux "
        "läuft econnector mit systemd: Verwenden Sie die Unit im Ordner service/ "
        "(systemctl enable --now econnector), wie docs/install-linux.md erklärt.",
        "no-pywin32": "Der Windows-Dienst braucht pywin32, das nicht installiert ist: "
        "py -m pip install pywin32, dann diesen Befehl erneut ausführen "
        "(docs/install-windows.md).",
        "localsystem": "econnector läuft nicht als LocalSystem (es hielte die Schlüssel der "
        "Ärzte mit allen Rechten auf diesem Computer): Geben Sie mit --account ein eigenes "
        "Konto an, oder lassen Sie --account weg für das eigene Konto des Dienstes {default}.",
        "no-config": "Keine Konfiguration unter {config}: Geben Sie sie mit -c an und "
        "prüfen Sie sie mit econnector check-config -c {config}.",
        "password": "Passwort des Kontos {account}: ",
        "installed": "Dienst {name} installiert: Konto {account}, Konfiguration {config}, "
        "startet mit Windows. Jetzt starten: econnector service start --name {name}",
        "removed": "Dienst {name} entfernt. Seine Ordner und seine Konfiguration bleiben "
        "erhalten.",
        "started": "Dienst {name} gestartet; das Ereignisprotokoll und die Logdatei zeigen, "
        "wie er läuft.",
        "stopped": "Dienst {name} soll anhalten: Er beendet zuerst die Dokumente in "
        "Bearbeitung.",
        "failed": "Die Windows-Dienstverwaltung hat abgelehnt ({action} {name}): {detail}",
    },
}


def service_text(key: str, lang: str, **params: object) -> str:
    """One text in ``lang`` (English when the language is unknown)."""
    return SERVICE_TEXTS.get(lang, SERVICE_TEXTS["en"])[key].format(**params)
