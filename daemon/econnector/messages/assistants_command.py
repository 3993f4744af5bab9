"""What ``econnector assistant add``, ``revoke`` and ``list`` print, in English, French
and German.

The doctor and the practice manager read these at the practice's computer, with the
doctor typing the passphrase or PIN: short, in words, with the one thing to do next.
Codes, provider codes, logins and commands stay as they are. The language is chosen
as ``econnector unlock`` chooses it (``--lang``, else the config's
``receipts.default_language``).
"""

from __future__ import annotations

from typing import Final

ASSISTANT_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "prompt-passphrase": "{name} ({provider}): the doctor types the passphrase of the "
        "signing key to sign this: ",
        "prompt-pin": "{name} ({provider}): the doctor types the PIN of the signing card "
        "to sign this: ",
        "unknown-provider": "No identity {provider} in the configuration of econnector.",
        "bad-login": "The login {login!r} cannot be used: 1 to 64 letters without accents, "
        "digits, dots, dashes or underscores, as the practice software sends it in "
        "submitted_by.",
        "login-is-doctor": "{login} is the doctor {provider} itself (provider code or "
        "login): a doctor needs no grant.",
        "bad-name": "The name cannot be used: 1 to 100 characters on one line.",
        "already": "{login} ({name}) is already an assistant of {provider} since {since}: "
        "nothing was changed.",
        "not-found": "{login} is not an assistant of {provider}: nothing was changed.",
        "empty-secret": "Nothing typed: nothing was signed or recorded.",
        "wrong-passphrase": "Wrong passphrase: nothing was signed or recorded. The doctor "
        "types the passphrase of the signing key of {provider}.",
        "wrong-pin": "Wrong PIN: nothing was signed or recorded. The doctor types the PIN "
        "of the signing card of {provider}.",
        "wrong-pin-few": "Wrong PIN: nothing was signed or recorded. Only a few tries are "
        "left before the card blocks: check the PIN before trying again.",
        "wrong-pin-one": "Wrong PIN: nothing was signed or recorded. One try is left "
        "before the card blocks: check the PIN before trying again.",
        "pin-blocked": "The card's PIN is blocked after too many wrong tries: nothing was "
        "signed or recorded. IT unblocks it with the PUK.",
        "token-absent": "The signing card or stick of {provider} is not connected: plug it "
        "in, then try again.",
        "refused": "The key of {provider} cannot sign: {detail}. Nothing was recorded. "
        "Tell IT.",
        "added": "Recorded: {login} ({name}) may send the documents of {provider}, signed "
        "by the doctor on {since}.",
        "revoked": "Revoked: {login} ({name}) may no longer send the documents of "
        "{provider} (signed by the doctor on {since}).",
        "list-empty": "No assistant is registered.",
        "col-login": "Login",
        "col-name": "Name",
        "col-doctor": "Doctor",
        "col-since": "Since",
        "col-revoked": "Revoked",
        "col-signature": "Signature",
        "sig-valid": "valid",
        "sig-invalid": "INVALID",
        "sig-other-cert": "another certificate",
        "revocation-invalid": "{when} (revocation INVALID)",
        "legend-invalid": "INVALID: the grant was changed after the doctor signed it; "
        "documents sent by this login are refused. Revoke it and register it again.",
        "legend-other-cert": "another certificate: signed with the doctor's previous "
        "certificate; documents sent by this login are refused until the doctor "
        "registers the assistant again.",
    },
    "fr": {
        "prompt-passphrase": "{name} ({provider}) : le médecin saisit la phrase secrète de "
        "la clé de signature pour signer : ",
        "prompt-pin": "{name} ({provider}) : le médecin saisit le code PIN de la carte de "
        "signature pour signer : ",
        "unknown-provider": "Aucune identité {provider} dans la configuration d'econnector.",
        "bad-login": "L'identifiant {login!r} n'est pas utilisable : 1 à 64 lettres sans "
        "accents, chiffres, points, tirets ou tirets bas, tel que le logiciel du cabinet "
        "l'envoie dans submitted_by.",
        "login-is-doctor": "{login} est le médecin {provider} lui-même (code prestataire "
        "ou identifiant) : un médecin n'a pas besoin d'autorisation.",
        "bad-name": "Le nom n'est pas utilisable : 1 à 100 caractères sur une ligne.",
        "already": "{login} ({name}) est déjà assistant(e) de {provider} depuis le "
        "{since} : rien n'a été modifié.",
        "not-found": "{login} n'est pas assistant(e) de {provider} : rien n'a été modifié.",
        "empty-secret": "Rien n'a été saisi : rien n'a été signé ni enregistré.",
        "wrong-passphrase": "Phrase secrète erronée : rien n'a été signé ni enregistré. "
        "Le médecin saisit la phrase secrète de la clé de signature de {provider}.",
        "wrong-pin": "Code PIN erroné : rien n'a été signé ni enregistré. Le médecin "
        "saisit le code PIN de la carte de signature de {provider}.",
        "wrong-pin-few": "Code PIN erroné : rien n'a été signé ni enregistré. Il ne reste "
        "que quelques essais avant le blocage de la carte : vérifiez le code avant de "
        "réessayer.",
        "wrong-pin-one": "Code PIN erroné : rien n'a été signé ni enregistré. Il reste un "
        "seul essai avant le blocage de la carte : vérifiez le code avant de réessayer.",
        "pin-blocked": "Le code PIN de la carte est bloqué après trop d'essais erronés : "
        "rien n'a été signé ni enregistré. Le service informatique le débloque avec le "
        "code PUK.",
        "token-absent": "La carte ou la clé de signature de {provider} n'est pas branchée : "
        "branchez-la, puis réessayez.",
        "refused": "La clé de {provider} ne peut pas signer : {detail}. Rien n'a été "
        "enregistré. Prévenez le service informatique.",
        "added": "Enregistré : {login} ({name}) peut envoyer les documents de {provider}, "
        "autorisation signée par le médecin le {since}.",
        "revoked": "Retiré : {login} ({name}) ne peut plus envoyer les documents de "
        "{provider} (autorisation signée par le médecin le {since}).",
        "list-empty": "Aucun(e) assistant(e) n'est enregistré(e).",
        "col-login": "Identifiant",
        "col-name": "Nom",
        "col-doctor": "Médecin",
        "col-since": "Depuis",
        "col-revoked": "Retiré",
        "col-signature": "Signature",
        "sig-valid": "valable",
        "sig-invalid": "NON VALABLE",
        "sig-other-cert": "autre certificat",
        "revocation-invalid": "{when} (retrait NON VALABLE)",
        "legend-invalid": "NON VALABLE : l'autorisation a été modifiée après la signature "
        "du médecin ; les documents envoyés sous cet identifiant sont refusés. Retirez-la "
        "et enregistrez-la de nouveau.",
        "legend-other-cert": "autre certificat : signée avec le certificat précédent du "
        "médecin ; les documents envoyés sous cet identifiant sont refusés jusqu'à ce que "
        "le médecin enregistre de nouveau l'assistant(e).",
    },
    "de": {
        "prompt-passphrase": "{name} ({provider}): der Arzt gibt die Passphrase des "
        "Signaturschlüssels ein, um zu signieren: ",
        "prompt-pin": "{name} ({provider}): der Arzt gibt die PIN der Signaturkarte ein, "
        "um zu signieren: ",
        "unknown-provider": "Keine Identität {provider} in der Konfiguration von econnector.",
        "bad-login": "Die Kennung {login!r} ist nicht verwendbar: 1 bis 64 Buchstaben ohne "
        "Akzente, Ziffern, Punkte, Bindestriche oder Unterstriche, so wie die "
        "Praxissoftware sie in submitted_by sendet.",
        "login-is-doctor": "{login} ist der Arzt {provider} selbst (Leistungserbringer-Code "
        "oder Kennung): ein Arzt braucht keine Berechtigung.",
        "bad-name": "Der Name ist nicht verwendbar: 1 bis 100 Zeichen auf einer Zeile.",
        "already": "{login} ({name}) ist bereits Assistenz von {provider} seit {since}: "
        "nichts wurde geändert.",
        "not-found": "{login} ist keine Assistenz von {provider}: nichts wurde geändert.",
        "empty-secret": "Nichts eingegeben: nichts wurde signiert oder gespeichert.",
        "wrong-passphrase": "Falsche Passphrase: nichts wurde signiert oder gespeichert. "
        "Der Arzt gibt die Passphrase des Signaturschlüssels von {provider} ein.",
        "wrong-pin": "Falsche PIN: nichts wurde signiert oder gespeichert. Der Arzt gibt "
        "die PIN der Signaturkarte von {provider} ein.",
        "wrong-pin-few": "Falsche PIN: nichts wurde signiert oder gespeichert. Nur noch "
        "wenige Versuche bis zur Sperre der Karte: prüfen Sie die PIN vor dem nächsten "
        "Versuch.",
        "wrong-pin-one": "Falsche PIN: nichts wurde signiert oder gespeichert. Nur noch ein "
        "Versuch bis zur Sperre der Karte: prüfen Sie die PIN vor dem nächsten Versuch.",
        "pin-blocked": "Die PIN der Karte ist nach zu vielen Fehlversuchen gesperrt: nichts "
        "wurde signiert oder gespeichert. Die IT entsperrt sie mit der PUK.",
        "token-absent": "Die Signaturkarte oder der Signaturstick von {provider} ist nicht "
        "angeschlossen: anschließen, dann erneut versuchen.",
        "refused": "Der Schlüssel von {provider} kann nicht signieren: {detail}. Nichts "
        "wurde gespeichert. Informieren Sie die IT.",
        "added": "Gespeichert: {login} ({name}) darf die Dokumente von {provider} senden, "
        "Berechtigung vom Arzt signiert am {since}.",
        "revoked": "Widerrufen: {login} ({name}) darf die Dokumente von {provider} nicht "
        "mehr senden (Berechtigung vom Arzt signiert am {since}).",
        "list-empty": "Keine Assistenz ist eingetragen.",
        "col-login": "Kennung",
        "col-name": "Name",
        "col-doctor": "Arzt",
        "col-since": "Seit",
        "col-revoked": "Widerrufen",
        "col-signature": "Signatur",
        "sig-valid": "gültig",
        "sig-invalid": "UNGÜLTIG",
        "sig-other-cert": "anderes Zertifikat",
        "revocation-invalid": "{when} (Widerruf UNGÜLTIG)",
        "legend-invalid": "UNGÜLTIG: die Berechtigung wurde nach der Signatur des Arztes "
        "geändert; Dokumente unter dieser Kennung werden abgelehnt. Widerrufen und neu "
        "eintragen.",
        "legend-other-cert": "anderes Zertifikat: mit dem früheren Zertifikat des Arztes "
        "signiert; Dokumente unter dieser Kennung werden abgelehnt, bis der Arzt die "
        "Assistenz neu einträgt.",
    },
}
