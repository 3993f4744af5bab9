"""The error catalog in German: message and hint for each code.

For the person at the front desk of a practice in Luxembourg (formal "Sie";
"Patientensafe", "Kasse" as on the receipts).
"""

from __future__ import annotations

from typing import Final

from ..codes import Code

# code -> (message, hint); str.format fields as in the English catalog (en.py).
TEXTS: Final[dict[Code, tuple[str, str]]] = {
    "bad-file-name": (
        "Der Dateiname '{name}' kann von econnector nicht verwendet werden.",
        "Benennen Sie das PDF und seine Begleitdatei (gleicher Name, Endung .yaml, .yml "
        "oder .json) um: nur Buchstaben ohne Umlaute und Akzente, Ziffern, Punkte, "
        "Bindestriche und Unterstriche, am Anfang ein Buchstabe oder eine Ziffer, "
        "höchstens 120 Zeichen (z. B. 2026-000123.pdf). Legen Sie dann beide Dateien "
        "erneut ab.",
    ),
    "sidecar-ambiguous": (
        "Für {stem}.pdf wurde mehr als eine Begleitdatei abgelegt ({stem}.yaml, "
        "{stem}.yml oder {stem}.json); econnector kann nicht erkennen, welche gilt.",
        "Legen Sie das PDF erneut mit genau einer Begleitdatei ab.",
    ),
    "sidecar-orphaned": (
        "Die Begleitdatei zu {stem}.pdf hat {seconds} Sekunden auf ihr PDF gewartet, "
        "das nie ankam; nichts wurde gesendet.",
        "Senden Sie das Dokument erneut aus der Praxissoftware (das PDF und seine "
        "Begleitdatei mit gleichem Namen).",
    ),
    "sidecar-too-large": (
        "Die Begleitdatei des Dokuments ist zu groß ({size} Bytes; höchstens {limit} "
        "Bytes).",
        "Die Begleitdatei darf das Dokument nur beschreiben; informieren Sie den "
        "Softwarehersteller.",
    ),
    "sidecar-encoding": (
        "Die Begleitdatei des Dokuments ist kein lesbarer Text (sie muss als UTF-8 "
        "gespeichert sein).",
        "Senden Sie das Dokument erneut; wenn es wieder passiert, informieren Sie den "
        "Softwarehersteller.",
    ),
    "sidecar-syntax": (
        "Die Begleitdatei des Dokuments ist beschädigt und kann nicht als {format} "
        "gelesen werden: {detail}",
        "Senden Sie das Dokument erneut; wenn es wieder passiert, informieren Sie den "
        "Softwarehersteller.",
    ),
    "sidecar-yaml-feature": (
        "Die Begleitdatei des Dokuments verwendet eine Schreibweise, die nicht "
        "angenommen wird: {detail}",
        "Informieren Sie den Softwarehersteller: Die Begleitdatei muss einfaches YAML "
        "sein, wie in den Beispielen des Ordnervertrags.",
    ),
    "sidecar-not-mapping": (
        "Die Begleitdatei des Dokuments ist leer oder enthält keine Angaben zum Dokument.",
        "Senden Sie das Dokument erneut; wenn es wieder passiert, informieren Sie den "
        "Softwarehersteller.",
    ),
    "sidecar-schema": (
        "Die Begleitdatei des Dokuments hat eine unbekannte Formatversion ({value}).",
        "Informieren Sie den Softwarehersteller: In der Begleitdatei muss "
        "schema: econnector.document/v1 stehen.",
    ),
    "field-missing": (
        "Die Angaben zum Dokument sind unvollständig: '{field}' fehlt.",
        "Ergänzen Sie '{field}' in der Praxissoftware und senden Sie das Dokument erneut.",
    ),
    "field-unknown": (
        "Die Angaben zum Dokument enthalten '{field}', das econnector nicht kennt.",
        "Informieren Sie den Softwarehersteller: '{field}' entfernen oder eigene Angaben "
        "unter einem Namen ablegen, der mit x- beginnt.",
    ),
    "field-type": (
        "Der Wert von '{field}' ist in der falschen Form geschrieben: erwartet wird "
        "{expected}{yaml_reading}.",
        "Korrigieren Sie '{field}' (erwartet: {expected}) und senden Sie das Dokument "
        "erneut; hat die Praxissoftware es geschrieben, informieren Sie den Hersteller.",
    ),
    "field-invalid": (
        "Der Wert von '{field}' ist ungültig: {detail}",
        "{hint_detail}",
    ),
    "document-id-invalid": (
        "Die Dokumentnummer muss 1 bis 64 Zeichen haben: Buchstaben ohne Umlaute und "
        "Akzente, Ziffern, Punkte, Bindestriche und Unterstriche.",
        "Verwenden Sie die Dokumentnummer der Praxis, z. B. 2026-000123, und senden Sie "
        "das Dokument erneut.",
    ),
    "document-type-unknown": (
        "Die Dokumentart '{value}' ist unbekannt.",
        "Wählen Sie eine der Arten invoice (Rechnung), prescription (Verschreibung), "
        "certificate (Bescheinigung) oder sick-leave-certificate "
        "(Arbeitsunfähigkeitsbescheinigung) und senden Sie das Dokument erneut.",
    ),
    "document-type-medical": (
        "Die Dokumentart '{value}' ist medizinischer Inhalt: Sie gehört in die "
        "gemeinsame Patientenakte (DSP), nicht in den administrativen Patientensafe.",
        "Senden Sie medizinische Dokumente an die DSP; nur Rechnungen, Verschreibungen, "
        "Bescheinigungen und Arbeitsunfähigkeitsbescheinigungen gehen über econnector.",
    ),
    "issued-at-invalid": (
        "Datum und Uhrzeit des Dokuments sind ungültig ({value}); sie müssen die "
        "Zeitzone enthalten.",
        "Informieren Sie den Softwarehersteller: Datum wie 2026-11-25T10:15:00+01:00 "
        "schreiben.",
    ),
    "language-unsupported": (
        "Die Sprache '{value}' ist für Bestätigungen nicht verfügbar.",
        "Wählen Sie Französisch (fr), Deutsch (de) oder Englisch (en), oder lassen Sie "
        "die Sprache leer, dann gilt die Sprache der Praxis.",
    ),
    "matricule-format": (
        "Die Matrikelnummer des Patienten (nationale Identifikationsnummer) muss genau "
        "13 Ziffern haben.",
        "Korrigieren Sie die Matrikelnummer in der Patientenakte (13 Ziffern, ohne "
        "Leerzeichen) und senden Sie das Dokument erneut.",
    ),
    "matricule-date": (
        "Die Matrikelnummer des Patienten beginnt nicht mit einem möglichen "
        "Geburtsdatum (die ersten 8 Ziffern: Jahr, Monat, Tag).",
        "Prüfen Sie die ersten 8 Ziffern am Ausweis des Patienten, korrigieren Sie die "
        "Patientenakte und senden Sie das Dokument erneut.",
    ),
    "matricule-luhn": (
        "Die Matrikelnummer des Patienten enthält einen Tippfehler: Die 12. Ziffer "
        "(eine Prüfziffer) passt nicht zu den übrigen.",
        "Prüfen Sie die Nummer auf der Sozialversicherungskarte des Patienten, "
        "korrigieren Sie die Patientenakte und senden Sie das Dokument erneut.",
    ),
    "matricule-verhoeff": (
        "Die Matrikelnummer des Patienten enthält einen Tippfehler: Die 13. Ziffer "
        "(eine Prüfziffer) passt nicht zu den übrigen.",
        "Prüfen Sie die Nummer auf der Sozialversicherungskarte des Patienten, "
        "korrigieren Sie die Patientenakte und senden Sie das Dokument erneut.",
    ),
    "insurer-unknown": (
        "Die Krankenkasse '{value}' ist unbekannt.",
        "Wählen Sie in der Patientenakte CNS, CMFEP, CMFEC, EMCFL oder RCAM und senden "
        "Sie das Dokument erneut.",
    ),
    "provider-unknown": (
        "In econnector ist kein Arzt mit dem Leistungserbringer-Code {value} "
        "eingerichtet.",
        "Prüfen Sie den in der Praxissoftware gewählten Arzt, oder bitten Sie die IT, "
        "den Signaturschlüssel dieses Arztes in econnector einzurichten.",
    ),
    "assistant-not-authorized": (
        '„{value}“ darf keine Dokumente für Arzt {provider} senden: {detail}.',
        'Senden Sie das Dokument unter der eigenen Anmeldung des Arztes, oder bitten Sie den '
        'Arzt, diese Assistenz zu registrieren (econnector assistant add), und senden Sie es '
        'erneut.',
    ),
    "query-syntax": (
        'Die Anfragedatei kann nicht als {format} gelesen werden: {detail}',
        'Stellen Sie die Anfrage erneut; wenn dies wieder passiert, informieren Sie den '
        'Softwarehersteller.',
    ),
    "query-unsupported": (
        'Die Anfragedatei fragt „{value}“, worauf econnector nicht antwortet.',
        'Informieren Sie den Softwarehersteller: Der Ordnervertrag listet die Fragen, die '
        'econnector beantwortet (query: patient-status).',
    ),
    "invoice-missing": (
        "Das Dokument ist eine Rechnung, aber Betrag, Währung und Zahlungsstatus fehlen.",
        "Vervollständigen Sie die Rechnung in der Praxissoftware und senden Sie sie "
        "erneut.",
    ),
    "invoice-not-allowed": (
        "Das Dokument enthält Rechnungsangaben, seine Art ist aber {value} und nicht "
        "Rechnung.",
        "Korrigieren Sie die Dokumentart oder entfernen Sie die Rechnungsangaben, und "
        "senden Sie das Dokument erneut.",
    ),
    "invoice-total-invalid": (
        "Der Rechnungsbetrag ist ungültig ({value}): Er muss größer als 0 sein, mit "
        "höchstens 2 Nachkommastellen.",
        "Korrigieren Sie den Betrag (z. B. 84.60) und senden Sie die Rechnung erneut.",
    ),
    "invoice-currency": (
        "Die Währung der Rechnung muss EUR sein ({value}).",
        "Stellen Sie die Währung auf EUR und senden Sie die Rechnung erneut.",
    ),
    "sidecar-missing": (
        "Das PDF {stem}.pdf hat {seconds} Sekunden auf seine Begleitdatei ({stem}.yaml, "
        "{stem}.yml oder {stem}.json) gewartet, die nie ankam; nichts wurde signiert "
        "oder gesendet.",
        "Senden Sie das Dokument erneut aus der Praxissoftware; das PDF und seine "
        "Begleitdatei müssen gleich heißen.",
    ),
    "drop-withdrawn": (
        "Die Datei {name} wurde aus dem Ordner outbox entfernt, bevor econnector fertig "
        "war; nichts wurde gesendet.",
        "Soll das Dokument noch hinausgehen, senden Sie es erneut aus der Praxissoftware.",
    ),
    "file-not-regular": (
        "Die Datei {name} ist {kind}, keine gewöhnliche Datei; econnector öffnet sie "
        "nicht, und nichts wurde signiert oder gesendet.",
        "Legen Sie das PDF und seine Begleitdatei als gewöhnliche Dateien (keine "
        "Verknüpfungen) in den Ordner outbox und senden Sie sie erneut.",
    ),
    "file-replaced": (
        "Die Datei {name} wurde ersetzt oder geändert, während econnector sie bearbeitete; "
        "die frühere Fassung wurde nicht gesendet. Die neue Fassung wird als neues "
        "Dokument bearbeitet.",
        "Für die neue Fassung ist nichts zu tun. Passiert das oft, informieren Sie den "
        "Softwarehersteller: Abgelegte Dateien dürfen nicht mehr geändert werden.",
    ),
    "duplicate-document-id": (
        "Die Dokumentnummer {value} des Leistungserbringers {provider} wurde bereits mit "
        "anderem Inhalt gesendet.",
        "Ein gesendetes Dokument kann nicht geändert werden: Geben Sie dem korrigierten "
        "Dokument eine neue Dokumentnummer und senden Sie es.",
    ),
    "pdf-empty": (
        "Die PDF-Datei ist leer.",
        "Erstellen Sie das PDF in der Praxissoftware neu und senden Sie es, sobald es "
        "vollständig ist.",
    ),
    "pdf-not-pdf": (
        "Die Datei ist kein PDF-Dokument (vielleicht eine andere Datei, in .pdf "
        "umbenannt).",
        "Senden Sie den PDF-Export des Dokuments, keine Word-Datei, kein Bild und kein "
        "anderes Format.",
    ),
    "pdf-incomplete": (
        "Das PDF ist abgeschnitten: Sein Ende fehlte auch nach {seconds} Sekunden noch.",
        "Erstellen Sie das PDF neu, achten Sie darauf, dass das Kopieren abgeschlossen "
        "ist, und senden Sie es erneut.",
    ),
    "pdf-too-large": (
        "Das PDF ist zu groß ({size} Bytes; höchstens {limit} Bytes).",
        "Scannen Sie mit geringerer Auflösung oder teilen Sie das Dokument, und senden "
        "Sie es erneut.",
    ),
    "pdf-damaged": (
        "Das PDF ist beschädigt und kann nicht gelesen werden: {detail}",
        "Erstellen Sie das PDF in der Praxissoftware neu und senden Sie es erneut.",
    ),
    "pdf-encrypted": (
        "Das PDF ist mit einem Passwort oder mit Einschränkungen geschützt; das wird "
        "nicht angenommen.",
        "Erstellen Sie das PDF ohne Passwort und ohne Einschränkungen neu und senden Sie "
        "es erneut.",
    ),
    "pdf-javascript": (
        "Das PDF enthält ein Skript (JavaScript); das wird nicht angenommen.",
        "Erstellen Sie das PDF mit einfachem Drucken als PDF neu und senden Sie es "
        "erneut.",
    ),
    "pdf-launch-action": (
        "Das PDF enthält eine Aktion, die Programme starten kann; das wird nicht "
        "angenommen.",
        "Erstellen Sie das PDF ohne Verknüpfungen, die Dateien oder Programme öffnen, "
        "neu und senden Sie es erneut.",
    ),
    "pdf-embedded-executable": (
        "Das PDF enthält ein angehängtes Programm ({name}); das wird nicht angenommen.",
        "Erstellen Sie das PDF ohne diesen Anhang neu; Datenanhänge wie Factur-X-XML "
        "sind erlaubt.",
    ),
    "pdf-xfa": (
        "Das PDF enthält ein dynamisches Formular (XFA), das nicht zuverlässig signiert "
        "werden kann und nicht angenommen wird.",
        "Erstellen Sie das PDF mit einem reduzierten oder gewöhnlichen Formular neu und "
        "senden Sie es erneut.",
    ),
    "pdf-embedded-pdf-action": (
        "Das PDF enthält eine Verknüpfung, die ein angehängtes PDF öffnet; das wird "
        "nicht angenommen.",
        "Erstellen Sie das PDF ohne Verknüpfungen zu Anhängen neu; die Anhänge selbst "
        "sind erlaubt.",
    ),
    "pdf-remote-action": (
        "Das PDF enthält eine Aktion ({action}), die aus dem Dokument hinaus zeigt "
        "({target}); das wird nicht angenommen.",
        "Erstellen Sie das PDF ohne Verknüpfungen zu Netzwerkdateien und ohne "
        "Formulare, die Daten senden, neu; gewöhnliche Web- und E-Mail-Verknüpfungen "
        "sind erlaubt.",
    ),
    "pdf-too-many-pages": (
        "Das PDF hat {pages} Seiten; höchstens {limit} werden angenommen.",
        "Teilen Sie das Dokument und senden Sie die Teile einzeln.",
    ),
    "pdf-too-complex": (
        "Das PDF ist zu aufwendig für die Verarbeitung (mehr als {limit} MiB Speicher "
        "nötig).",
        "Erstellen Sie das PDF neu; ein gewöhnliches Verwaltungsdokument ist viel kleiner.",
    ),
    "pdf-processing-timeout": (
        "Die Verarbeitung des PDFs dauerte länger als {seconds} Sekunden und wurde "
        "abgebrochen.",
        "Erstellen Sie das PDF neu; die Datei ist vielleicht beschädigt.",
    ),
    "pdf-certified-no-changes": (
        "Das PDF ist bereits so zertifiziert, dass keine Änderung erlaubt ist; es kann "
        "daher nicht signiert werden.",
        "Senden Sie das Dokument vor der Zertifizierung oder ohne sie.",
    ),
    "pdf-signing-failed": (
        "Das PDF konnte nicht signiert werden: {detail}",
        "Erstellen Sie das PDF neu und senden Sie es erneut; passiert es wieder, geben "
        "Sie die Datei an die IT.",
    ),
    "vault-rejected": (
        "Der Patientensafe hat das Dokument abgelehnt ({status} {vault_code}): {detail}",
        "Korrigieren Sie, was der Safe nennt, und senden Sie das Dokument erneut.",
    ),
    "vault-conflict": (
        "Der Safe enthält unter dieser Dokumentnummer bereits ein anderes Dokument.",
        "Geben Sie dem korrigierten Dokument eine neue Dokumentnummer und senden Sie es.",
    ),
    "vault-too-large": (
        "Der Safe hat das Dokument abgelehnt, weil es zu groß ist.",
        "Scannen Sie mit geringerer Auflösung oder teilen Sie das Dokument, und senden "
        "Sie es erneut.",
    ),
    "patient-opted-out": (
        "Der Patient hat sich gegen den digitalen Safe entschieden: Das Dokument wurde "
        "signiert, aber nicht gesendet.",
        "Drucken Sie das signierte PDF {signed} aus dem Ordner inbox aus und geben Sie "
        "es dem Patienten.",
    ),
    "vault-unavailable": (
        "Der Safe ist im Moment nicht erreichbar ({detail}); econnector versucht es "
        "weiter.",
        "Nichts zu tun: Das Dokument wird gesendet, sobald der Safe antwortet.",
    ),
    "vault-unauthorized": (
        "Der Safe hat den Zugang von econnector abgelehnt ({status}); alle Sendungen "
        "sind angehalten.",
        "Informieren Sie die IT: Das Safe-Token in der Konfiguration von econnector "
        "muss erneuert oder korrigiert werden. Die Dokumente warten und gehen danach "
        "hinaus.",
    ),
    "file-busy": (
        "Die Datei kann noch nicht gelesen werden ({detail}); econnector versucht es "
        "erneut.",
        "Nichts zu tun, außer es dauert an: Ein anderes Programm verwendet die Datei "
        "noch.",
    ),
    "certificate-expired": (
        "Das Signaturzertifikat des Leistungserbringers {provider} ist am {not_after} "
        "abgelaufen; econnector signiert nicht damit.",
        "Der Arzt braucht ein erneuertes Zertifikat; die IT installiert es und führt "
        "'econnector check-config' aus. Die Dokumente warten und werden danach "
        "signiert.",
    ),
    "certificate-not-yet-valid": (
        "Das Signaturzertifikat des Leistungserbringers {provider} gilt erst ab "
        "{not_before}; econnector signiert vorher nicht damit.",
        "Nichts zu tun, wenn das Datum nahe ist; sonst prüft die IT die Uhr des "
        "Computers und das Zertifikat.",
    ),
    "certificate-revoked": (
        "Das Signaturzertifikat des Leistungserbringers {provider} wurde von seiner "
        "Zertifizierungsstelle widerrufen ({detail}); econnector signiert nicht damit.",
        "Der Arzt braucht ein neues Zertifikat; die IT installiert es und startet "
        "'econnector check-config'. Die Dokumente warten und werden dann signiert.",
    ),
    "certificate-key-usage": (
        "Das Zertifikat des Leistungserbringers {provider} ist nicht für Signaturen "
        "bestimmt (es erlaubt: {usages}); econnector signiert nicht damit.",
        "Informieren Sie die IT: die Konfiguration muss das Signaturzertifikat des Arztes "
        "nennen, nicht das Anmelde- oder Verschlüsselungszertifikat. Die Dokumente warten "
        "bis dahin.",
    ),
    "token-absent": (
        "Die Chipkarte oder der Signaturstick des Leistungserbringers {provider} ist nicht "
        "angeschlossen ({detail}).",
        "Schließen Sie die Karte oder den Stick des Arztes an; die Dokumente warten und "
        "werden dann signiert.",
    ),
    "tsa-unavailable": (
        "Der Zeitstempeldienst {service} hat nicht geantwortet ({detail}); econnector "
        "versucht es erneut.",
        "Nichts zu tun, außer wenn es andauert; dann informieren Sie die IT "
        "(signing.tsa.url in der Konfiguration).",
    ),
    "revocation-unavailable": (
        "Der Statusdienst für Zertifikate {service} hat nicht geantwortet ({detail}); "
        "econnector versucht es erneut.",
        "Nichts zu tun, außer wenn es andauert; dann informieren Sie die IT: der "
        "Statusdienst der Zertifizierungsstelle muss von diesem Computer aus erreichbar "
        "sein.",
    ),
    "signature-check-failed": (
        "Die für dieses Dokument erstellte Signatur hat die Prüfung von econnector nicht "
        "bestanden ({defect}); es wurde nicht gesendet.",
        "Informieren Sie die IT: signing.trust_roots und das Zertifikat des Arztes mit "
        "'econnector check-config' prüfen, dann econnector neu starten; das Dokument wird "
        "dann erneut signiert.",
    ),
    "signature-invalid": (
        "Der Safe hat die Signatur dieses Dokuments abgelehnt ({defect}); es wurde nicht "
        "gespeichert.",
        "Informieren Sie die IT: das Zertifikat des Arztes und signing.trust_roots mit "
        "'econnector check-config' prüfen, dann econnector neu starten; das Dokument wird "
        "dann erneut signiert und gesendet.",
    ),
    "vault-tls": (
        "Die Identität des Safes konnte nicht überprüft werden ({detail}); alle "
        "Sendungen sind angehalten.",
        "Informieren Sie die IT: vault.url und vault.ca_bundle in der Konfiguration von "
        "econnector prüfen, dann 'econnector check-config' ausführen.",
    ),
    "outbox-missing": (
        "Der Ordner outbox {path} fehlt oder ist nicht lesbar; econnector wartet darauf.",
        "Informieren Sie die IT: Netzlaufwerk verbinden oder Ordner anlegen; econnector "
        "macht von selbst weiter.",
    ),
    "inbox-missing": (
        "Der Ordner inbox {path} fehlt oder ist nicht beschreibbar; econnector wartet "
        "darauf.",
        "Informieren Sie die IT: Netzlaufwerk verbinden oder Ordner anlegen; econnector "
        "macht von selbst weiter.",
    ),
    "identity-locked": (
        "Der Signaturschlüssel des Leistungserbringers {provider} ist gesperrt oder "
        "nicht verfügbar ({detail}).",
        "Der Arzt oder die IT entsperrt den Signaturschlüssel; die Dokumente warten und "
        "werden danach signiert.",
    ),
    "awaiting-sidecar": (
        "Das PDF wartet auf seine Begleitdatei {stem}.yaml, {stem}.yml oder {stem}.json.",
        "Nichts zu tun, wenn die Praxissoftware noch sendet; sonst senden Sie das "
        "Dokument erneut.",
    ),
    "awaiting-pdf": (
        "Die Begleitdatei wartet auf ihr PDF {stem}.pdf.",
        "Nichts zu tun, wenn die Praxissoftware noch sendet; sonst senden Sie das "
        "Dokument erneut.",
    ),
    "awaiting-eof": (
        "Das PDF ist noch nicht vollständig; econnector wartet, bis es ganz geschrieben "
        "ist.",
        "Nichts zu tun, solange das PDF noch erstellt wird.",
    ),
    "internal-error": (
        "In econnector ist ein unerwarteter Fehler aufgetreten ({detail}).",
        "Informieren Sie die IT und geben Sie ihr das Protokoll von econnector; das "
        "Original bleibt erhalten.",
    ),
    "secret-file-exposed": (
        "{what}: Die geheime Datei {path} hat die Rechte {mode} ({how}); econnector "
        "startet nicht mit einem Geheimnis, das andere Benutzer lesen oder ändern "
        "können.",
        "Abhilfe: chmod 600 {path} (Eigentümer ist der Dienstbenutzer; oder 640 mit "
        "einer Gruppe, in der nur der Dienst ist), dann erneut 'econnector "
        "check-config' ausführen.",
    ),
    "store-too-new": (
        "Die Datenbank {path} hat die Schemaversion {value}: eine neuere "
        "econnector-Version hat sie geschrieben, diese kennt nur Versionen bis {limit}. "
        "econnector öffnet sie nicht und hat sie nicht verändert.",
        "Installieren Sie die econnector-Version, die sie geschrieben hat (oder eine "
        "neuere), oder halten Sie den Dienst an und stellen Sie die vor dem Update "
        "gemachte Sicherung wieder her (docs/install-linux.md, Upgrade).",
    ),
}
