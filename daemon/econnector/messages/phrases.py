"""The fixed English phrases raisers pass as parameters, in French and German.

A raiser passes plain English (``expected="a quoted string"``, a file kind, a
fixed detail); :func:`localize_params` translates a parameter only when it is
exactly one of these phrases, so a vendor's value is never "translated".
"""

from __future__ import annotations

from typing import Any, Final

# Fixed English phrases that raisers pass as parameters (what a value must look
# like, what kind of file something is, a fixed detail): translated when the
# parameter is exactly one of them. Anything else (a parser's detail, a file
# name) is shown as it is.
PHRASES: Final[dict[str, dict[str, str]]] = {
    # field-type: what the value must be
    'a quoted string like "2026-000123"': {
        "fr": 'un texte entre guillemets comme "2026-000123"',
        "de": 'ein Text in Anführungszeichen wie "2026-000123"',
    },
    "a string such as invoice": {
        "fr": "un texte comme invoice",
        "de": "ein Text wie invoice",
    },
    'a date-time string like "2026-11-25T10:15:00+01:00"': {
        "fr": 'une date et une heure comme "2026-11-25T10:15:00+01:00"',
        "de": 'Datum und Uhrzeit wie "2026-11-25T10:15:00+01:00"',
    },
    "a string: fr, de or en": {
        "fr": "fr, de ou en",
        "de": "fr, de oder en",
    },
    "a mapping of keys to values": {
        "fr": "une liste de noms et de valeurs",
        "de": "eine Liste von Namen und Werten",
    },
    "a quoted string of 13 digits": {
        "fr": "13 chiffres entre guillemets",
        "de": "13 Ziffern in Anführungszeichen",
    },
    "a quoted string": {
        "fr": "un texte entre guillemets",
        "de": "ein Text in Anführungszeichen",
    },
    "a string: CNS, CMFEP, CMFEC, EMCFL or RCAM": {
        "fr": "CNS, CMFEP, CMFEC, EMCFL ou RCAM",
        "de": "CNS, CMFEP, CMFEC, EMCFL oder RCAM",
    },
    "a quoted string of 8 digits": {
        "fr": "8 chiffres entre guillemets",
        "de": "8 Ziffern in Anführungszeichen",
    },
    "the string EUR": {"fr": "EUR", "de": "EUR"},
    "true or false": {"fr": "true (oui) ou false (non)", "de": "true (ja) oder false (nein)"},
    'a quoted decimal string like "84.60"': {
        "fr": 'un montant entre guillemets comme "84.60"',
        "de": 'ein Betrag in Anführungszeichen wie "84.60"',
    },
    # field-type: what an unquoted YAML value was read as
    "a yes/no boolean": {"fr": "un oui/non", "de": "ein Ja/Nein"},
    "an octal, binary or base-60 number": {
        "fr": "un nombre octal, binaire ou en base 60",
        "de": "eine Oktal-, Binär- oder Sexagesimalzahl",
    },
    "a base-60 number": {"fr": "un nombre en base 60", "de": "eine Sexagesimalzahl"},
    "a date or time": {"fr": "une date ou une heure", "de": "ein Datum oder eine Uhrzeit"},
    "a merge key": {"fr": "une clé de fusion", "de": "ein Zusammenführungsschlüssel"},
    "a special value": {"fr": "une valeur spéciale", "de": "ein Sonderwert"},
    "a non-text value": {"fr": "une valeur autre qu'un texte", "de": "ein Wert, der kein Text ist"},
    # field-invalid: detail and hint_detail
    "it must be 1 to 100 characters long.": {
        "fr": "il doit compter de 1 à 100 caractères.",
        "de": "er muss 1 bis 100 Zeichen lang sein.",
    },
    "Shorten it to at most 100 characters, or leave it out.": {
        "fr": "Raccourcissez-le à 100 caractères au plus, ou laissez-le vide.",
        "de": "Kürzen Sie ihn auf höchstens 100 Zeichen oder lassen Sie ihn leer.",
    },
    "it contains line breaks, tabs or similar characters.": {
        "fr": "il contient des sauts de ligne, des tabulations ou des caractères semblables.",
        "de": "er enthält Zeilenumbrüche, Tabulatoren oder ähnliche Zeichen.",
    },
    "Write it on one line, without line breaks or tabs.": {
        "fr": "Écrivez-le sur une seule ligne, sans sauts de ligne ni tabulations.",
        "de": "Schreiben Sie ihn in eine Zeile, ohne Zeilenumbrüche oder Tabulatoren.",
    },
    "a provider code has exactly 8 digits.": {
        "fr": "un code prestataire compte exactement 8 chiffres.",
        "de": "ein Leistungserbringer-Code hat genau 8 Ziffern.",
    },
    "Choose the doctor again in the practice software (8-digit provider code, e.g. "
    "90812100) and send the document again.": {
        "fr": "Choisissez à nouveau le médecin dans le logiciel du cabinet (code prestataire "
        "à 8 chiffres, p. ex. 90812100) et renvoyez le document.",
        "de": "Wählen Sie den Arzt in der Praxissoftware erneut (8-stelliger "
        "Leistungserbringer-Code, z. B. 90812100) und senden Sie das Dokument erneut.",
    },
    "it must be 1 to 64 letters without accents, digits, dots, dashes or underscores.": {
        "fr": "il doit compter de 1 à 64 lettres sans accents, chiffres, points, tirets ou "
        "tirets bas.",
        "de": "er muss aus 1 bis 64 Buchstaben ohne Umlaute, Ziffern, Punkten, Bindestrichen "
        "oder Unterstrichen bestehen.",
    },
    "Use the assistant's login or initials, e.g. anna, or leave it out.": {
        "fr": "Utilisez l'identifiant ou les initiales de l'assistante, p. ex. anna, ou "
        "laissez-le vide.",
        "de": "Verwenden Sie die Anmeldung oder die Initialen der Assistenz, z. B. anna, oder "
        "lassen Sie ihn leer.",
    },
    "infinite and not-a-number values are not allowed.": {
        "fr": "les valeurs infinies ou non numériques ne sont pas permises.",
        "de": "unendliche oder nicht numerische Werte sind nicht erlaubt.",
    },
    "Tell the software vendor: write a finite number or a quoted string.": {
        "fr": "Prévenez l'éditeur du logiciel : écrire un nombre fini ou un texte entre "
        "guillemets.",
        "de": "Informieren Sie den Softwarehersteller: eine endliche Zahl oder einen Text in "
        "Anführungszeichen schreiben.",
    },
    # file-not-regular: what the file is (safeopen.kind_of)
    "a symbolic link": {"fr": "un lien symbolique", "de": "eine symbolische Verknüpfung"},
    "a FIFO (named pipe)": {"fr": "un tube nommé (FIFO)", "de": "eine benannte Pipe (FIFO)"},
    "a folder": {"fr": "un dossier", "de": "ein Ordner"},
    "a socket": {"fr": "un connecteur réseau (socket)", "de": "ein Netzwerk-Socket"},
    "a device": {"fr": "un périphérique", "de": "ein Gerät"},
    "not a regular file": {"fr": "un objet spécial", "de": "ein besonderes Objekt"},
    # fixed details
    "wrong passphrase or damaged key": {
        "fr": "phrase secrète erronée ou clé endommagée",
        "de": "falsche Passphrase oder beschädigter Schlüssel",
    },
    "locked": {"fr": "verrouillée", "de": "gesperrt"},
    "not loaded": {"fr": "non chargée", "de": "nicht geladen"},
    "permission denied": {"fr": "accès refusé", "de": "Zugriff verweigert"},
    "the document has no pages": {
        "fr": "le document n'a aucune page",
        "de": "das Dokument hat keine Seiten",
    },
}

# Only these parameters are looked up: a vendor's value is never "translated".
_PHRASE_KEYS: Final = frozenset(("expected", "reading", "detail", "hint_detail", "kind",
                                 "defect"))

# field-type adds what YAML read an unquoted value as, when it did: {reading}.
_READING_NOTE: Final = {
    "en": " (without quotes, YAML 1.1 reads this value as {reading})",
    "fr": " (sans guillemets, YAML 1.1 lit cette valeur comme {reading})",
    "de": " (ohne Anführungszeichen liest YAML 1.1 diesen Wert als {reading})",
}


def phrase(text: str, language: str) -> str:
    """``text`` in ``language`` if it is a known phrase, else unchanged."""
    return PHRASES.get(text, {}).get(language, text)


def localize_params(params: dict[str, Any], language: str) -> dict[str, Any]:
    """Template parameters for ``language``: known phrases translated, and the derived
    ``yaml_reading`` (empty unless a ``reading`` is given)."""
    out = {
        k: phrase(v, language) if k in _PHRASE_KEYS and isinstance(v, str) else v
        for k, v in params.items()
    }
    reading = out.get("reading")
    note = _READING_NOTE.get(language, _READING_NOTE["en"])
    out["yaml_reading"] = note.format(reading=reading) if reading else ""
    return out


# -- issue 11: what the self-check before upload, or the vault, found wrong in a signature
# (the ``defect`` of signature-check-failed and signature-invalid; pades.py, vault_client.py)
PHRASES.update({
    "the signed content does not match the signature": {
        "fr": "le contenu signé ne correspond pas à la signature",
        "de": "der signierte Inhalt stimmt nicht mit der Signatur überein",
    },
    "the certificate does not chain to the trust roots": {
        "fr": "le certificat ne remonte pas aux autorités de confiance configurées",
        "de": "das Zertifikat führt nicht zu den konfigurierten Vertrauensstellen",
    },
    "the signature has no valid timestamp": {
        "fr": "la signature n'a pas d'horodatage valable",
        "de": "die Signatur hat keinen gültigen Zeitstempel",
    },
    "the revocation data for the certificates is not embedded": {
        "fr": "les preuves de non-révocation des certificats ne sont pas intégrées",
        "de": "die Sperrnachweise der Zertifikate sind nicht eingebettet",
    },
    "the document timestamp is missing or invalid": {
        "fr": "l'horodatage d'archivage manque ou n'est pas valable",
        "de": "der Archivzeitstempel fehlt oder ist ungültig",
    },
    "the signature was not found in the signed file": {
        "fr": "la signature est introuvable dans le fichier signé",
        "de": "die Signatur ist in der signierten Datei nicht zu finden",
    },
    "the signature does not cover the whole file": {
        "fr": "la signature ne couvre pas tout le fichier",
        "de": "die Signatur deckt nicht die ganze Datei ab",
    },
    "a certificate of the chain or of the timestamp service is revoked": {
        "fr": "un certificat de la chaîne ou du service d'horodatage est révoqué",
        "de": "ein Zertifikat der Kette oder des Zeitstempeldienstes ist widerrufen",
    },
    "the certificate could not be validated": {
        "fr": "le certificat n'a pas pu être validé",
        "de": "das Zertifikat konnte nicht geprüft werden",
    },
    "the signature is missing": {
        "fr": "la signature manque",
        "de": "die Signatur fehlt",
    },
    "the certificate had expired when the document was signed": {
        "fr": "le certificat avait expiré au moment de la signature",
        "de": "das Zertifikat war zum Zeitpunkt der Signatur abgelaufen",
    },
    "the certificate was not yet valid when the document was signed": {
        "fr": "le certificat n'était pas encore valable au moment de la signature",
        "de": "das Zertifikat war zum Zeitpunkt der Signatur noch nicht gültig",
    },
    "the certificate was revoked when the document was signed": {
        "fr": "le certificat était révoqué au moment de la signature",
        "de": "das Zertifikat war zum Zeitpunkt der Signatur widerrufen",
    },
    "the certificate is not made for signatures": {
        "fr": "le certificat n'est pas destiné à la signature",
        "de": "das Zertifikat ist nicht für Signaturen bestimmt",
    },
    "the font of the visible signature box is missing": {
        "fr": "la police du cadre de signature visible manque",
        "de": "die Schrift des sichtbaren Signaturfelds fehlt",
    },
    "the vault gave another reason": {
        "fr": "le coffre-fort a donné une autre raison",
        "de": "der Safe hat einen anderen Grund genannt",
    },
})


# -- issue 11: tokens and the unlock ---------------------------------------------------
# The details tokens.py and identities.py pass to identity-locked and token-absent.
PHRASES.update({
    "waiting for the doctor to unlock it with econnector unlock": {
        "fr": "en attente du médecin, qui la déverrouille avec econnector unlock",
        "de": "wartet auf den Arzt, der ihn mit econnector unlock entsperrt",
    },
    "no token with the configured label is connected": {
        "fr": "aucune carte portant le nom configuré n'est branchée",
        "de": "keine Karte mit dem konfigurierten Namen ist angeschlossen",
    },
    "the token was removed while signing": {
        "fr": "la carte a été retirée pendant la signature",
        "de": "die Karte wurde während der Signatur entfernt",
    },
    "the PKCS#11 module cannot be loaded": {
        "fr": "le module PKCS#11 ne peut pas être chargé",
        "de": "das PKCS#11-Modul kann nicht geladen werden",
    },
    "the key or its certificate is not on the token": {
        "fr": "la clé ou son certificat ne se trouve pas sur la carte",
        "de": "der Schlüssel oder sein Zertifikat ist nicht auf der Karte",
    },
    "wrong PIN": {"fr": "code PIN erroné", "de": "falsche PIN"},
    "wrong PIN; only a few tries are left before the card blocks": {
        "fr": "code PIN erroné ; il ne reste que quelques essais avant le blocage de la carte",
        "de": "falsche PIN; nur noch wenige Versuche bis zur Sperre der Karte",
    },
    "wrong PIN; one try is left before the card blocks": {
        "fr": "code PIN erroné ; il reste un seul essai avant le blocage de la carte",
        "de": "falsche PIN; nur noch ein Versuch bis zur Sperre der Karte",
    },
    "the PIN is blocked after too many wrong tries; IT unblocks it with the PUK": {
        "fr": "le code PIN est bloqué après trop d'essais erronés ; le service informatique "
              "le débloque avec le code PUK",
        "de": "die PIN ist nach zu vielen Fehlversuchen gesperrt; die IT entsperrt sie mit "
              "der PUK",
    },
    "the PIN has expired; change it with the card's own tool": {
        "fr": "le code PIN a expiré ; changez-le avec l'outil de la carte",
        "de": "die PIN ist abgelaufen; ändern Sie sie mit dem Programm der Karte",
    },
})


# -- issue 12: why a submitted_by is not accepted (assistant-not-authorized's detail)
PHRASES.update({
    "no sender is named (submitted_by)": {
        "fr": "aucun expéditeur n'est indiqué (submitted_by)",
        "de": "kein Absender ist angegeben (submitted_by)",
    },
    "no assistant with this login is registered for this doctor": {
        "fr": "aucun assistant avec cet identifiant n'est enregistré pour ce médecin",
        "de": "keine Assistenz mit dieser Anmeldung ist für diesen Arzt registriert",
    },
    "the assistant's registration was revoked": {
        "fr": "l'enregistrement de cet assistant a été révoqué",
        "de": "die Registrierung dieser Assistenz wurde widerrufen",
    },
    "the assistant's registration does not carry the doctor's valid signature": {
        "fr": "l'enregistrement de cet assistant ne porte pas de signature valable du médecin",
        "de": "die Registrierung dieser Assistenz trägt keine gültige Signatur des Arztes",
    },
})
