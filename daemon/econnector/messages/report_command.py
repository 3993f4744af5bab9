"""What ``econnector report`` writes and prints, in English, French and German.

The practice's manager and its accountant read the summary: totals and tables first,
then whether the vault bills exactly the same documents, each difference in one line and
what to do about it. Quarters, provider codes, document numbers, vault ids and amounts
stay as they are. The language is chosen as ``econnector status`` chooses it
(``--lang``, else the config's ``receipts.default_language``).
"""

from __future__ import annotations

from typing import Final

REPORT_TEXTS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "title": "econnector: fee statement {quarter}, {scope}",
        "scope-all": "all doctors",
        "scope-one": "doctor {provider}",
        "made": "Made on {when}. The quarter is counted in UTC, as the vault bills it.",
        "total": "Total: {count} delivered documents, fees {fees}",
        "total-one": "Total: 1 delivered document, fees {fees}",
        "empty": "No delivered document in {quarter}.",
        "by-doctor": "By doctor",
        "by-type": "By document type",
        "by-insurer": "By insurer",
        "by-assistant": "By assistant (submitted by; - when the sidecar names nobody)",
        "col-count": "documents",
        "col-fees": "fees",
        "offline": "Not compared with the vault's billing (--offline).",
        "match": "Compared with the vault's billing ({url}): every document and fee "
        "matches.",
        "mismatches": "Compared with the vault's billing ({url}): {count} differences.",
        "mismatches-one": "Compared with the vault's billing ({url}): 1 difference.",
        "not-billed": "In the ledger, not billed by the vault: doctor {provider}, document "
        "{document} ({type}, {when}), vault id {vault_id}, fee {ledger_fee}.",
        "not-in-ledger": "Billed by the vault, not in the ledger: doctor {provider}, vault id "
        "{vault_id} ({type}, {when}), fee {vault_fee}.",
        "different-fee": "Different fee: doctor {provider}, document {document} ({type}), "
        "vault id {vault_id}: ledger {ledger_fee}, vault {vault_fee}.",
        "advice": "What to do: keep these files and send the list of differences to the "
        "vault operator; the practice is invoiced what the vault bills. Not billed: ask "
        "whether the vault still holds the document (its receipt is in the inbox). Not "
        "in the ledger: the vault billed a document this econnector has no record of "
        "(another installation with the same doctor's code, or a ledger restored from an "
        "older backup). Different fee: ask the vault operator which tariff applies.",
        "written": "Written: {path}",
        "no-ledger": "No fee ledger at {path} yet: has econnector run?",
        "bad-quarter": "--quarter takes a quarter like 2026Q4 (year, Q, 1 to 4).",
        "bad-provider": "--provider takes a doctor's provider code (letters, digits, - "
        "and _).",
        "vault-failed": "The vault's billing of doctor {provider} could not be read: {detail}. "
        "Try again later, or add --offline for the statement without the comparison.",
        "vault-refused": "The vault refused econnector's token for doctor {provider} "
        "(HTTP {status}): IT checks the vault token in the configuration, or the vault "
        "operator binds it to this code.",
        "vault-timeout": "The vault did not answer within {seconds} s for doctor {provider}. "
        "Try again later, or add --offline for the statement without the comparison.",
        "bad-output": "The report cannot be written to {path}: {detail}.",
        "unknown": "unknown",
    },
    "fr": {
        "title": "econnector : relevé des frais {quarter}, {scope}",
        "scope-all": "tous les médecins",
        "scope-one": "médecin {provider}",
        "made": "Établi le {when}. Le trimestre est compté en temps universel (UTC), comme "
        "le coffre-fort le facture.",
        "total": "Total : {count} documents remis, frais {fees}",
        "total-one": "Total : 1 document remis, frais {fees}",
        "empty": "Aucun document remis en {quarter}.",
        "by-doctor": "Par médecin",
        "by-type": "Par type de document",
        "by-insurer": "Par caisse de maladie",
        "by-assistant": "Par assistant (envoyé par ; - quand le fichier de données ne "
        "nomme personne)",
        "col-count": "documents",
        "col-fees": "frais",
        "offline": "Pas comparé avec la facturation du coffre-fort (--offline).",
        "match": "Comparé avec la facturation du coffre-fort ({url}) : chaque document et "
        "chaque montant concordent.",
        "mismatches": "Comparé avec la facturation du coffre-fort ({url}) : {count} écarts.",
        "mismatches-one": "Comparé avec la facturation du coffre-fort ({url}) : 1 écart.",
        "not-billed": "Dans le registre, pas facturé par le coffre-fort : médecin "
        "{provider}, document {document} ({type}, {when}), numéro au coffre-fort "
        "{vault_id}, frais {ledger_fee}.",
        "not-in-ledger": "Facturé par le coffre-fort, absent du registre : médecin "
        "{provider}, numéro au coffre-fort {vault_id} ({type}, {when}), frais {vault_fee}.",
        "different-fee": "Montant différent : médecin {provider}, document {document} "
        "({type}), numéro au coffre-fort {vault_id} : registre {ledger_fee}, coffre-fort "
        "{vault_fee}.",
        "advice": "Que faire : gardez ces fichiers et envoyez la liste des écarts à "
        "l'exploitant du coffre-fort ; le cabinet paie ce que le coffre-fort facture. Pas "
        "facturé : demandez si le coffre-fort détient toujours le document (son accusé de "
        "réception est dans le dossier inbox). Absent du registre : le coffre-fort a "
        "facturé un document dont cet econnector n'a pas de trace (une autre installation avec le "
        "même code de médecin, ou un registre restauré d'une ancienne sauvegarde). Montant "
        "différent : demandez à l'exploitant quel tarif s'applique.",
        "written": "Écrit : {path}",
        "no-ledger": "Pas encore de registre des frais dans {path} : econnector a-t-il déjà "
        "tourné ?",
        "bad-quarter": "--quarter attend un trimestre comme 2026Q4 (année, Q, 1 à 4).",
        "bad-provider": "--provider attend le code prestataire d'un médecin (lettres, "
        "chiffres, - et _).",
        "vault-failed": "La facturation du médecin {provider} n'a pas pu être lue au "
        "coffre-fort : {detail}. Réessayez plus tard, ou ajoutez --offline pour le relevé "
        "sans la comparaison.",
        "vault-refused": "Le coffre-fort a refusé le jeton d'econnector pour le médecin "
        "{provider} (HTTP {status}) : le service informatique vérifie le jeton du "
        "coffre-fort dans la configuration, ou l'exploitant le lie à ce code.",
        "vault-timeout": "Le coffre-fort n'a pas répondu en {seconds} s pour le médecin "
        "{provider}. Réessayez plus tard, ou ajoutez --offline pour le relevé sans la "
        "comparaison.",
        "bad-output": "Le relevé ne peut pas être écrit dans {path} : {detail}.",
        "unknown": "inconnu",
    },
    "de": {
        "title": "econnector: Gebührenaufstellung {quarter}, {scope}",
        "scope-all": "alle Ärzte",
        "scope-one": "Arzt {provider}",
        "made": "Erstellt am {when}. Das Quartal wird in Weltzeit (UTC) gezählt, wie der "
        "Safe es abrechnet.",
        "total": "Gesamt: {count} zugestellte Dokumente, Gebühren {fees}",
        "total-one": "Gesamt: 1 zugestelltes Dokument, Gebühren {fees}",
        "empty": "Kein zugestelltes Dokument in {quarter}.",
        "by-doctor": "Nach Arzt",
        "by-type": "Nach Dokumentart",
        "by-insurer": "Nach Krankenkasse",
        "by-assistant": "Nach Assistenz (gesendet von; - wenn die Begleitdatei niemanden "
        "nennt)",
        "col-count": "Dokumente",
        "col-fees": "Gebühren",
        "offline": "Nicht mit der Abrechnung des Safes verglichen (--offline).",
        "match": "Mit der Abrechnung des Safes verglichen ({url}): jedes Dokument und "
        "jede Gebühr stimmen überein.",
        "mismatches": "Mit der Abrechnung des Safes verglichen ({url}): {count} "
        "Abweichungen.",
        "mismatches-one": "Mit der Abrechnung des Safes verglichen ({url}): 1 Abweichung.",
        "not-billed": "Im Register, vom Safe nicht abgerechnet: Arzt {provider}, Dokument "
        "{document} ({type}, {when}), Safe-Nummer {vault_id}, Gebühr {ledger_fee}.",
        "not-in-ledger": "Vom Safe abgerechnet, nicht im Register: Arzt {provider}, "
        "Safe-Nummer {vault_id} ({type}, {when}), Gebühr {vault_fee}.",
        "different-fee": "Andere Gebühr: Arzt {provider}, Dokument {document} ({type}), "
        "Safe-Nummer {vault_id}: Register {ledger_fee}, Safe {vault_fee}.",
        "advice": "Was tun: Bewahren Sie diese Dateien auf und senden Sie die Liste der "
        "Abweichungen an den Betreiber des Safes; die Praxis zahlt, was der Safe abrechnet. "
        "Nicht abgerechnet: Fragen Sie, ob der Safe das Dokument noch enthält (seine "
        "Empfangsbestätigung liegt im Ordner inbox). Nicht im Register: Der Safe hat "
        "ein Dokument abgerechnet, von dem dieses econnector nichts weiß (eine andere "
        "Installation mit demselben Arztcode, oder ein Register aus einer älteren "
        "Sicherung). Andere Gebühr: Fragen Sie den Betreiber, welcher Tarif gilt.",
        "written": "Geschrieben: {path}",
        "no-ledger": "Noch kein Gebührenregister unter {path}: Ist econnector schon "
        "gelaufen?",
        "bad-quarter": "--quarter erwartet ein Quartal wie 2026Q4 (Jahr, Q, 1 bis 4).",
        "bad-provider": "--provider erwartet den Leistungserbringercode eines Arztes "
        "(Buchstaben, Ziffern, - und _).",
        "vault-failed": "Die Abrechnung von Arzt {provider} konnte beim Safe nicht gelesen "
        "werden: {detail}. Versuchen Sie es später noch einmal, oder fügen Sie --offline "
        "hinzu für die Aufstellung ohne Vergleich.",
        "vault-refused": "Der Safe hat das Token von econnector für Arzt {provider} "
        "abgelehnt (HTTP {status}): Die IT prüft das Safe-Token in der Konfiguration, oder "
        "der Betreiber bindet es an diesen Code.",
        "vault-timeout": "Der Safe hat für Arzt {provider} nicht innerhalb von {seconds} s "
        "geantwortet. Versuchen Sie es später noch einmal, oder fügen Sie --offline hinzu "
        "für die Aufstellung ohne Vergleich.",
        "bad-output": "Die Aufstellung kann nicht nach {path} geschrieben werden: {detail}.",
        "unknown": "unbekannt",
    },
}

# The document types of the folder contract, named for people.
TYPE_LABELS: Final[dict[str, dict[str, str]]] = {
    "en": {"invoice": "invoice", "prescription": "prescription",
           "certificate": "certificate", "sick-leave-certificate": "sick-leave certificate"},
    "fr": {"invoice": "facture", "prescription": "ordonnance",
           "certificate": "certificat",
           "sick-leave-certificate": "certificat d'incapacité de travail"},
    "de": {"invoice": "Rechnung", "prescription": "Verschreibung",
           "certificate": "Bescheinigung",
           "sick-leave-certificate": "Arbeitsunfähigkeitsbescheinigung"},
}
