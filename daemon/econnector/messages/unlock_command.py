"""What ``econnector unlock`` and ``econnector lock`` print, in English, French and German.

The doctor reads these at the practice's computer: short, in words, with the one
thing to do next. Codes, provider codes and commands stay as they are. The language
is chosen as ``econnector status`` chooses it (``--lang``, else the config's
``receipts.default_language``).
"""

from __future__ import annotations

from typing import Final

UNLOCK_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "prompt": "PIN of the signing card of {name} ({provider}): ",
        "unlocked": "Unlocked: econnector signs the documents of {provider} again; the "
        "documents that waited go on now.",
        "wrong-pin": "Wrong PIN: {provider} stays locked. Try again: econnector unlock "
        "{provider}",
        "wrong-pin-few": "Wrong PIN: {provider} stays locked. Only a few tries are left "
        "before the card blocks: check the PIN before trying again.",
        "wrong-pin-one": "Wrong PIN: {provider} stays locked. One try is left before the "
        "card blocks: check the PIN before trying again.",
        "pin-blocked": "The card's PIN is blocked after too many wrong tries: {provider} "
        "stays locked. IT unblocks it with the PUK.",
        "token-absent": "The signing card or stick of {provider} is not connected: plug it "
        "in, then run econnector unlock {provider} again.",
        "unknown-provider": "No identity {provider} in the configuration of econnector.",
        "not-manual": "The identity {provider} unlocks itself (unlock: file): nothing to "
        "type here.",
        "refused": "{provider} stays locked: {detail}. Tell IT.",
        "cannot-sign": "The PIN is right, but {provider} cannot sign ({reason}): {detail}. "
        "Tell IT.",
        "locked": "Locked: {providers}. Their documents wait until the doctor runs "
        "econnector unlock.",
        "locked-none": "No identity to lock: every identity unlocks itself (unlock: file).",
        "empty-pin": "No PIN typed: nothing was sent.",
        "no-daemon": "econnector is not running (no answer at {path}): start it, or tell IT.",
        "no-access": "You may not talk to econnector ({path}): IT adds you to the "
        "practice's group.",
        "no-answer": "econnector did not answer in time ({path}); try again, or tell IT.",
        "bad-answer": "econnector gave an unexpected answer ({result}); tell IT.",
    },
    "fr": {
        "prompt": "Code PIN de la carte de signature de {name} ({provider}) : ",
        "unlocked": "Déverrouillé : econnector signe de nouveau les documents de "
        "{provider} ; les documents en attente reprennent maintenant.",
        "wrong-pin": "Code PIN erroné : {provider} reste verrouillé. Réessayez : "
        "econnector unlock {provider}",
        "wrong-pin-few": "Code PIN erroné : {provider} reste verrouillé. Il ne reste que "
        "quelques essais avant le blocage de la carte : vérifiez le code avant de réessayer.",
        "wrong-pin-one": "Code PIN erroné : {provider} reste verrouillé. Il reste un seul "
        "essai avant le blocage de la carte : vérifiez le code avant de réessayer.",
        "pin-blocked": "Le code PIN de la carte est bloqué après trop d'essais erronés : "
        "{provider} reste verrouillé. Le service informatique le débloque avec le code PUK.",
        "token-absent": "La carte ou la clé de signature de {provider} n'est pas branchée : "
        "branchez-la, puis relancez econnector unlock {provider}.",
        "unknown-provider": "Aucune identité {provider} dans la configuration d'econnector.",
        "not-manual": "L'identité {provider} se déverrouille d'elle-même (réglage unlock "
        "de la configuration) : rien à saisir ici.",
        "refused": "{provider} reste verrouillé : {detail}. Prévenez le service "
        "informatique.",
        "cannot-sign": "Le code PIN est correct, mais {provider} ne peut pas signer "
        "({reason}) : {detail}. Prévenez le service informatique.",
        "locked": "Verrouillé : {providers}. Leurs documents attendent que le médecin "
        "lance econnector unlock.",
        "locked-none": "Aucune identité à verrouiller : toutes se déverrouillent "
        "d'elles-mêmes (réglage unlock de la configuration).",
        "empty-pin": "Aucun code PIN saisi : rien n'a été envoyé.",
        "no-daemon": "econnector n'est pas en marche (aucune réponse à {path}) : "
        "démarrez-le, ou prévenez le service informatique.",
        "no-access": "Vous n'avez pas accès à econnector ({path}) : le service "
        "informatique vous ajoute au groupe du cabinet.",
        "no-answer": "econnector n'a pas répondu à temps ({path}) ; réessayez, ou "
        "prévenez le service informatique.",
        "bad-answer": "Réponse inattendue d'econnector ({result}) ; prévenez le service "
        "informatique.",
    },
    "de": {
        "prompt": "PIN der Signaturkarte von {name} ({provider}): ",
        "unlocked": "Entsperrt: econnector signiert wieder die Dokumente von {provider}; "
        "die wartenden Dokumente gehen jetzt weiter.",
        "wrong-pin": "Falsche PIN: {provider} bleibt gesperrt. Erneut versuchen: "
        "econnector unlock {provider}",
        "wrong-pin-few": "Falsche PIN: {provider} bleibt gesperrt. Nur noch wenige Versuche "
        "bis zur Sperre der Karte: prüfen Sie die PIN vor dem nächsten Versuch.",
        "wrong-pin-one": "Falsche PIN: {provider} bleibt gesperrt. Nur noch ein Versuch bis "
        "zur Sperre der Karte: prüfen Sie die PIN vor dem nächsten Versuch.",
        "pin-blocked": "Die PIN der Karte ist nach zu vielen Fehlversuchen gesperrt: "
        "{provider} bleibt gesperrt. Die IT entsperrt sie mit der PUK.",
        "token-absent": "Die Signaturkarte oder der Signaturstick von {provider} ist nicht "
        "angeschlossen: anschließen, dann erneut econnector unlock {provider} ausführen.",
        "unknown-provider": "Keine Identität {provider} in der Konfiguration von econnector.",
        "not-manual": "Die Identität {provider} entsperrt sich selbst (Einstellung unlock "
        "der Konfiguration): hier ist nichts einzugeben.",
        "refused": "{provider} bleibt gesperrt: {detail}. Informieren Sie die IT.",
        "cannot-sign": "Die PIN ist richtig, aber {provider} kann nicht signieren "
        "({reason}): {detail}. Informieren Sie die IT.",
        "locked": "Gesperrt: {providers}. Ihre Dokumente warten, bis der Arzt econnector "
        "unlock ausführt.",
        "locked-none": "Keine Identität zu sperren: alle entsperren sich selbst "
        "(Einstellung unlock der Konfiguration).",
        "empty-pin": "Keine PIN eingegeben: nichts wurde gesendet.",
        "no-daemon": "econnector läuft nicht (keine Antwort unter {path}): starten Sie ihn, "
        "oder informieren Sie die IT.",
        "no-access": "Sie haben keinen Zugang zu econnector ({path}): die IT nimmt Sie in "
        "die Gruppe der Praxis auf.",
        "no-answer": "econnector hat nicht rechtzeitig geantwortet ({path}); erneut "
        "versuchen, oder informieren Sie die IT.",
        "bad-answer": "Unerwartete Antwort von econnector ({result}); informieren Sie die IT.",
    },
}
